import { randomUUID } from 'node:crypto';
import type { Client } from '@elastic/elasticsearch';
import { describe, expect, it } from 'vitest';
import { ElasticsearchConnector } from '../../../connectors/elasticsearch-connector.js';
import { checkElasticsearch } from '../../../src/setup/elasticsearch-checks.js';
import { indexPrefix, indicesOf } from '../../support/es-indices.js';
import { esCatalog, seed } from '../../support/es-fixture.js';
import { accountErased, userErased } from '../../support/sink-fixture.js';

const settings = { number_of_replicas: 0 };

/** The values of `field` left in an index, sorted. */
async function left(es: Client, index: string, field: string): Promise<unknown[]> {
  const page = await es.search<Record<string, unknown>>({ index, size: 100 });
  return page.hits.hits.map((h) => h._source![field]).sort();
}

describe('Elasticsearch sink: exact matching', () => {
  it('on a dynamic mapping (text with a .keyword subfield) erases a uuid, an email and bob exactly, sparing neighbours that differ in case or extend them', async () => {
    const p = indexPrefix('lex');
    const catalog = esCatalog(`    user:
      - { index: "${p}-users", match: user_id, action: delete }
      - { index: "${p}-messages", match: sender_id, action: { anonymize: [sender_name, sender_email] } }
`);
    await using scratch = indicesOf(p);
    const { es } = scratch;
    for (const index of [`${p}-users`, `${p}-messages`]) await es.indices.create({ index, settings }); // no mappings: dynamic
    const uuid = randomUUID();
    const subjects = [uuid, 'ada.lovelace+x@seeded.example', 'bob'];
    const neighbours = [uuid.toUpperCase(), 'Ada.Lovelace+x@seeded.example', 'ada.lovelace@seeded.example', 'Bob', 'BOB', 'bob smith', 'bobby'];
    const long = 'z'.repeat(300); // longer than the .keyword subfield's ignore_above 256
    const everyone = [...subjects, ...neighbours, long];
    await seed(es, `${p}-users`, everyone.map((user_id) => ({ user_id })));
    await seed(es, `${p}-messages`, everyone.map((id) => ({ sender_id: id, sender_name: 'Someone', sender_email: 'someone@seeded.example', body: 'kept' })));
    // The premise: dynamic mapping made the key a text field.
    const mapping = await es.indices.getMapping({ index: `${p}-users` });
    expect(mapping[`${p}-users`]!.mappings.properties!.user_id).toMatchObject({ type: 'text', fields: { keyword: { type: 'keyword' } } });

    const connector = new ElasticsearchConnector(catalog.sinks.elasticsearch!);
    const results = await connector.apply([...subjects, long].map((s) => userErased(s)));
    for (const r of results.slice(0, 3)) {
      expect(r).toEqual([
        { target: `index ${p}-users`, affected: 1, residual: 0 },
        { target: `index ${p}-messages`, affected: 1, residual: 0 },
      ]);
    }
    // A key too long for the keyword subfield cannot be found there: a failure naming index and field, not "nothing to do".
    expect(results[3]![0]).toMatchObject({ affected: 0, failed: expect.stringContaining(`ignore_above 256 of field user_id.keyword of index ${p}-users`) });

    expect(await left(es, `${p}-users`, 'user_id')).toEqual([...neighbours, long].sort());
    const messages = await es.search<Record<string, unknown>>({ index: `${p}-messages`, size: 100 });
    for (const { _source: m } of messages.hits.hits) {
      const erased = subjects.includes(m!.sender_id as string);
      expect(m, String(erased)).toMatchObject(erased ? { sender_name: null, sender_email: null, body: 'kept' } : { sender_name: 'Someone', body: 'kept' });
    }
    // Again: nothing left to do, nothing else touched.
    expect((await connector.apply([userErased('bob')]))[0]).toEqual([
      { target: `index ${p}-users`, affected: 0, residual: 0 },
      { target: `index ${p}-messages`, affected: 0, residual: 0 },
    ]);
    await connector.close();
  });

  it('on a long field refuses a key that is not the canonical number, and tells longs beyond 2^53 apart', async () => {
    const p = indexPrefix('lel');
    const catalog = esCatalog(`    user:
      - { index: "${p}-accounts", match: uid, action: delete }
`);
    await using scratch = indicesOf(p);
    const { es } = scratch;
    await es.indices.create({ index: `${p}-accounts`, settings, mappings: { properties: { uid: { type: 'long' } } } });
    await seed(es, `${p}-accounts`, ['{"uid":1}', '{"uid":10}', '{"uid":9007199254740993}', '{"uid":9007199254740992}', '{"uid":"7"}']);

    const connector = new ElasticsearchConnector(catalog.sinks.elasticsearch!);
    const coerced = ['01', '1.0', '+1', '1e0', ' 1'];
    const results = await connector.apply([...coerced, '9007199254740993', '7'].map((s) => userErased(s)));
    coerced.forEach((key, n) => {
      expect(results[n]![0], key).toMatchObject({ affected: 0, failed: expect.stringContaining(`field uid of index ${p}-accounts (long)`) });
    });
    expect(results[5]![0]).toEqual({ target: `index ${p}-accounts`, affected: 1, residual: 0 });
    // A numeric string the store coerced is that number.
    expect(results[6]![0]).toEqual({ target: `index ${p}-accounts`, affected: 1, residual: 0 });
    const count = async (uid: string) => (await es.count({ index: `${p}-accounts`, query: { term: { uid } } })).count;
    expect([await count('1'), await count('10'), await count('9007199254740993'), await count('9007199254740992'), await count('7')]).toEqual([1, 1, 0, 1, 0]);

    expect((await connector.apply([userErased('1')]))[0]).toEqual([{ target: `index ${p}-accounts`, affected: 1, residual: 0 }]);
    expect([await count('1'), await count('10')]).toEqual([0, 1]);
    await connector.close();
  });

  it('on a keyword with a lowercase normalizer anonymizes only the exact value, leaving case variants it found', async () => {
    const p = indexPrefix('len');
    const catalog = esCatalog(`    user:
      - { index: "${p}-profiles", match: email, action: { anonymize: [name] } }
`);
    await using scratch = indicesOf(p);
    const { es } = scratch;
    await es.indices.create({
      index: `${p}-profiles`,
      settings: { ...settings, analysis: { normalizer: { lc: { type: 'custom', filter: ['lowercase'] } } } },
      mappings: { properties: { email: { type: 'keyword', normalizer: 'lc' }, name: { type: 'keyword' } } },
    });
    const variants = ['bob@seeded.example', 'Bob@seeded.example', 'BOB@SEEDED.EXAMPLE'];
    await seed(es, `${p}-profiles`, variants.map((email) => ({ email, name: 'Bob' })));

    const connector = new ElasticsearchConnector(catalog.sinks.elasticsearch!);
    const [[result]] = (await connector.apply([userErased('Bob@seeded.example')])) as [[unknown]];
    expect(result).toMatchObject({ target: `index ${p}-profiles`, affected: 1, residual: 0, details: { inexact: expect.stringContaining('2 document(s)') } });
    const page = await es.search<{ email: string; name: string | null }>({ index: `${p}-profiles`, size: 10 });
    expect(Object.fromEntries(page.hits.hits.map((h) => [h._source!.email, h._source!.name]))).toEqual({ 'bob@seeded.example': 'Bob', 'Bob@seeded.example': null, 'BOB@SEEDED.EXAMPLE': 'Bob' });
    await connector.close();
  });

  it('refuses a text field without a keyword subfield at doctor and at first use, naming index and field; other targets still apply', async () => {
    const p = indexPrefix('let');
    const catalog = esCatalog(`    user:
      - { index: "${p}-notes", match: user_id, action: delete }
      - { index: "${p}-users", match: user_id, action: delete }
      - { index: "${p}-absent", match: user_id, action: delete }
`);
    await using scratch = indicesOf(p);
    const { es } = scratch;
    await es.indices.create({ index: `${p}-notes`, settings, mappings: { properties: { user_id: { type: 'text' } } } });
    await es.indices.create({ index: `${p}-users`, settings });
    await seed(es, `${p}-notes`, [{ user_id: 'bob' }, { user_id: 'Bob' }]);
    await seed(es, `${p}-users`, [{ user_id: 'bob' }, { user_id: 'Bob' }]);

    const findings = await checkElasticsearch(catalog);
    expect(findings).toEqual([
      { level: 'problem', subject: expect.stringContaining(`index ${p}-notes`), message: expect.stringContaining(`index ${p}-notes: field user_id is text without a keyword subfield`) },
      { level: 'ok', subject: expect.stringContaining(`index ${p}-users`), message: expect.stringContaining(`${p}-users: user_id.keyword (keyword)`) },
      { level: 'problem', subject: expect.stringContaining(`index ${p}-absent`), message: expect.stringContaining(`index ${p}-absent does not exist`) },
    ]);

    const connector = new ElasticsearchConnector(catalog.sinks.elasticsearch!);
    const [results] = await connector.apply([userErased('bob')]);
    expect(results).toEqual([
      { target: `index ${p}-notes`, affected: 0, residual: 0, failed: expect.stringContaining(`index ${p}-notes: field user_id is text without a keyword subfield`) },
      { target: `index ${p}-users`, affected: 1, residual: 0 },
      { target: `index ${p}-absent`, affected: 0, residual: 0, failed: expect.stringContaining('does not exist') },
    ]);
    expect(await left(es, `${p}-notes`, 'user_id')).toEqual(['Bob', 'bob']);
    expect(await left(es, `${p}-users`, 'user_id')).toEqual(['Bob']);
    await connector.close();
  });

  it('matches a composite key on dynamic fields (text and long) only when both values are exact', async () => {
    const p = indexPrefix('lek');
    const catalog = esCatalog(`    account:
      - { index: "${p}-ledger", match: { tenant: tenant_code, AccountId: account_no }, action: delete }
`);
    await using scratch = indicesOf(p);
    const { es } = scratch;
    await es.indices.create({ index: `${p}-ledger`, settings });
    const docs = [
      { tenant_code: 'Acme', account_no: 42, n: 1 },
      { tenant_code: 'acme', account_no: 42, n: 2 },
      { tenant_code: 'Acme', account_no: 420, n: 3 },
      { tenant_code: 'Acme', account_no: 4, n: 4 },
      { tenant_code: 'Acme Corp', account_no: 42, n: 5 },
    ];
    await seed(es, `${p}-ledger`, docs);

    const connector = new ElasticsearchConnector(catalog.sinks.elasticsearch!);
    const [exact, padded] = await connector.apply([accountErased('Acme', '42'), accountErased('Acme', '042')]);
    expect(exact).toEqual([{ target: `index ${p}-ledger`, affected: 1, residual: 0 }]);
    expect(padded![0]).toMatchObject({ affected: 0, failed: expect.stringContaining(`field account_no of index ${p}-ledger (long)`) });
    expect(await left(es, `${p}-ledger`, 'n')).toEqual([2, 3, 4, 5]);
    await connector.close();
  });

  it('reads the mapping again when a pattern gains an index, or an index maps the field, after the first search', async () => {
    const p = indexPrefix('lem');
    const catalog = esCatalog(`    user:
      - { index: "${p}-logs-*", match: user_id, action: delete }
`);
    await using scratch = indicesOf(p);
    const { es } = scratch;
    await es.indices.create({ index: `${p}-logs-0`, settings }); // no user_id yet
    await es.indices.create({ index: `${p}-logs-1`, settings });
    await seed(es, `${p}-logs-0`, [{ other: 'x' }]);
    await seed(es, `${p}-logs-1`, [{ user_id: 'bob' }, { user_id: 'Bob' }]);
    const connector = new ElasticsearchConnector(catalog.sinks.elasticsearch!);
    expect((await connector.apply([userErased('carol')]))[0]).toEqual([{ target: `index ${p}-logs-*`, affected: 0, residual: 0 }]);

    // Since: logs-0 maps user_id (dynamically, as text), logs-2 appears with a keyword mapping.
    await seed(es, `${p}-logs-0`, [{ user_id: 'bob' }, { user_id: 'Bob' }]);
    await es.indices.create({ index: `${p}-logs-2`, settings, mappings: { properties: { user_id: { type: 'keyword' } } } });
    await seed(es, `${p}-logs-2`, [{ user_id: 'bob' }, { user_id: 'Bob' }]);
    expect((await connector.apply([userErased('bob')]))[0]).toEqual([{ target: `index ${p}-logs-*`, affected: 3, residual: 0 }]);
    for (const n of [0, 1, 2]) expect((await left(es, `${p}-logs-${n}`, 'user_id')).filter((v) => v !== undefined)).toEqual(['Bob']);
    await connector.close();
  });
});
