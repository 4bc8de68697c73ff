import { describe, expect, it } from 'vitest';
import { ElasticsearchConnector } from '../../../connectors/elasticsearch-connector.js';
import { RecordError } from '../../../src/errors.js';
import { checkElasticsearch } from '../../../src/setup/elasticsearch-checks.js';
import { countOf, esCatalog, seed } from '../../support/es-fixture.js';
import { indexPrefix, indicesOf } from '../../support/es-indices.js';
import { userErased } from '../../support/sink-fixture.js';

const settings = { number_of_replicas: 0 };

/** What the store cannot search, compare or reach fails the target naming index and field, at doctor and at first use; never "nothing to do". */
describe('Elasticsearch sink: what an index cannot search or compare', () => {
  it('fails targets whose documents hold no _source value to compare (disabled, excluded, copy_to, null_value); other targets still apply', async () => {
    const p = indexPrefix('lsr');
    const catalog = esCatalog(`    user:
      - { index: "${p}-nosource", match: user_id, action: delete }
      - { index: "${p}-excluded", match: user_id, action: delete }
      - { index: "${p}-copied", match: all_ids, action: delete }
      - { index: "${p}-nulled", match: user_id, action: delete }
      - { index: "${p}-users", match: user_id, action: delete }
`);
    await using scratch = indicesOf(p);
    const { es } = scratch;
    const keyword = { properties: { user_id: { type: 'keyword' as const } } };
    await es.indices.create({ index: `${p}-nosource`, settings, mappings: { _source: { enabled: false }, ...keyword } });
    await es.indices.create({ index: `${p}-excluded`, settings, mappings: { _source: { excludes: ['user_*'] }, ...keyword } });
    await es.indices.create({ index: `${p}-copied`, settings, mappings: { properties: { user_id: { type: 'keyword', copy_to: 'all_ids' }, all_ids: { type: 'keyword' } } } });
    await es.indices.create({ index: `${p}-nulled`, settings, mappings: { properties: { user_id: { type: 'keyword', null_value: 'bob' } } } });
    await es.indices.create({ index: `${p}-users`, settings });
    for (const index of ['nosource', 'excluded', 'copied', 'users']) await seed(es, `${p}-${index}`, [{ user_id: 'bob' }, { user_id: 'Bob' }]);
    await seed(es, `${p}-nulled`, [{ user_id: 'bob' }, { user_id: null }]);

    const findings = await checkElasticsearch(catalog);
    expect(findings.map((f) => [f.level, f.message])).toEqual([
      ['problem', expect.stringContaining(`index ${p}-nosource: _source is disabled`)],
      ['problem', expect.stringContaining(`index ${p}-excluded: _source.excludes user_* drops field user_id`)],
      ['problem', expect.stringContaining(`index ${p}-copied: field all_ids is filled by copy_to from user_id`)],
      // Only a document can show that its value is missing.
      ['ok', expect.stringContaining(`${p}-nulled: user_id (keyword)`)],
      ['ok', expect.stringContaining(`${p}-users: user_id.keyword (keyword)`)],
    ]);

    const connector = new ElasticsearchConnector(catalog.sinks.elasticsearch!);
    const [results] = await connector.apply([userErased('bob')]);
    expect(results).toEqual([
      { target: `index ${p}-nosource`, affected: 0, residual: 0, failed: expect.stringContaining(`index ${p}-nosource: _source is disabled`) },
      { target: `index ${p}-excluded`, affected: 0, residual: 0, failed: expect.stringContaining(`index ${p}-excluded: _source.excludes`) },
      { target: `index ${p}-copied`, affected: 0, residual: 0, failed: expect.stringContaining(`index ${p}-copied: field all_ids is filled by copy_to`) },
      { target: `index ${p}-nulled`, affected: 0, residual: 0, failed: `index ${p}-nulled: cannot compare exactly: no _source value at user_id in a document the index matched for the key` },
      { target: `index ${p}-users`, affected: 1, residual: 0 },
    ]);
    for (const index of ['nosource', 'excluded', 'copied', 'nulled']) expect(await countOf(es, `${p}-${index}`), index).toBe(2);
    expect(await countOf(es, `${p}-users`)).toBe(1);
    await connector.close();
  });

  it('refuses match fields documents may hold unindexed or computed at search time (dynamic: false or runtime, enabled: false, mappings.runtime)', async () => {
    const p = indexPrefix('lsd');
    const catalog = esCatalog(`    user:
      - { index: "${p}-static", match: user_id, action: delete }
      - { index: "${p}-disabled", match: profile.user_id, action: delete }
      - { index: "${p}-dynruntime", match: user_id, action: delete }
      - { index: "${p}-runtime", match: user_id, action: delete }
      - { index: "${p}-users", match: user_id, action: delete }
`);
    await using scratch = indicesOf(p);
    const { es } = scratch;
    await es.indices.create({ index: `${p}-static`, settings, mappings: { dynamic: false, properties: { n: { type: 'long' } } } });
    await es.indices.create({ index: `${p}-disabled`, settings, mappings: { properties: { profile: { type: 'object', enabled: false } } } });
    await es.indices.create({ index: `${p}-dynruntime`, settings, mappings: { dynamic: 'runtime' } });
    await es.indices.create({ index: `${p}-runtime`, settings, mappings: { runtime: { user_id: { type: 'keyword' } } } });
    await es.indices.create({ index: `${p}-users`, settings });
    for (const index of ['static', 'dynruntime', 'runtime', 'users']) await seed(es, `${p}-${index}`, [{ user_id: 'bob', n: 1 }]);
    await seed(es, `${p}-disabled`, [{ profile: { user_id: 'bob' } }]);
    // The premise: each index holds bob's document in _source.
    const bobs = await es.count({ index: `${p}-static,${p}-dynruntime,${p}-runtime`, q: 'n:1' });
    expect(bobs.count).toBe(3);

    const expected = [
      `index ${p}-static: field user_id is not mapped and dynamic: false at the mapping root`,
      `index ${p}-disabled: field profile.user_id is inside profile, an object with enabled: false`,
      `index ${p}-dynruntime: field user_id is a runtime field (mappings.runtime)`,
      `index ${p}-runtime: field user_id is a runtime field (mappings.runtime)`,
    ];
    const findings = await checkElasticsearch(catalog);
    expect(findings.map((f) => [f.level, f.message])).toEqual([
      ...expected.map((e) => ['problem', expect.stringContaining(e)]),
      ['ok', expect.stringContaining(`${p}-users: user_id.keyword (keyword)`)],
    ]);
    const connector = new ElasticsearchConnector(catalog.sinks.elasticsearch!);
    const [results] = await connector.apply([userErased('bob')]);
    expect(results).toEqual([
      ...expected.map((e, i) => ({ target: `index ${p}-${['static', 'disabled', 'dynruntime', 'runtime'][i]}`, affected: 0, residual: 0, failed: expect.stringContaining(e) })),
      { target: `index ${p}-users`, affected: 1, residual: 0 },
    ]);
    for (const index of ['static', 'disabled', 'dynruntime', 'runtime']) expect(await countOf(es, `${p}-${index}`), index).toBe(1);
    await connector.close();
  });

  it('fails a pattern covering a closed index, also one closed after the first search, naming it; doctor warns of a pattern matching nothing', async () => {
    const p = indexPrefix('lsc');
    const catalog = esCatalog(`    user:
      - { index: "${p}-logs-*", match: user_id, action: delete }
      - { index: "${p}-users", match: user_id, action: delete }
      - { index: "${p}-typo-*", match: user_id, action: delete }
`);
    await using scratch = indicesOf(p);
    const { es } = scratch;
    for (const index of [`${p}-logs-0`, `${p}-logs-1`, `${p}-users`]) {
      await es.indices.create({ index, settings });
      await seed(es, index, [{ user_id: 'bob' }, { user_id: 'carol' }]);
    }
    const connector = new ElasticsearchConnector(catalog.sinks.elasticsearch!);
    expect((await connector.apply([userErased('carol')]))[0]).toEqual([
      { target: `index ${p}-logs-*`, affected: 2, residual: 0 },
      { target: `index ${p}-users`, affected: 1, residual: 0 },
      { target: `index ${p}-typo-*`, affected: 0, residual: 0 },
    ]);

    await es.indices.close({ index: `${p}-logs-1` });
    const closed = `index ${p}-logs-1 of ${p}-logs-* is closed`;
    const findings = await checkElasticsearch(catalog);
    expect(findings.map((f) => [f.level, f.message])).toEqual([
      ['problem', expect.stringContaining(closed)],
      ['ok', expect.stringContaining(`${p}-users: user_id.keyword`)],
      ['warn', expect.stringContaining('matches no index yet')],
    ]);
    // The connector resolved the pattern while logs-1 was open: its search now meets the closed index.
    expect((await connector.apply([userErased('bob')]))[0]).toEqual([
      { target: `index ${p}-logs-*`, affected: 0, residual: 0, failed: expect.stringContaining(closed) },
      { target: `index ${p}-users`, affected: 1, residual: 0 },
      { target: `index ${p}-typo-*`, affected: 0, residual: 0 },
    ]);
    // A fresh connector refuses it at first use.
    const fresh = new ElasticsearchConnector(catalog.sinks.elasticsearch!);
    expect((await fresh.apply([userErased('bob')]))[0]![0]).toMatchObject({ failed: expect.stringContaining(closed) });
    expect(await countOf(es, `${p}-logs-0`)).toBe(1);
    await Promise.all([connector.close(), fresh.close()]);
  });

  it('erases documents indexed with a routing value, deleting and anonymizing on their own shard', async () => {
    const p = indexPrefix('lsg');
    const catalog = esCatalog(`    user:
      - { index: "${p}-required", match: user_id, action: delete }
      - { index: "${p}-sharded", match: user_id, action: { anonymize: [name] } }
`);
    await using scratch = indicesOf(p);
    const { es } = scratch;
    await es.indices.create({ index: `${p}-required`, settings, mappings: { _routing: { required: true } } });
    // Several shards: a document routed by its tenant is rarely on the shard its id alone points to.
    await es.indices.create({ index: `${p}-sharded`, settings: { ...settings, number_of_shards: 4 } });
    const routed = Array.from({ length: 8 }, (_, n) => ({ id: `doc-${n}`, routing: `tenant-${n}`, doc: { user_id: n % 2 === 0 ? 'bob' : 'Bob', name: 'Someone' } }));
    await seed(es, `${p}-required`, routed);
    await seed(es, `${p}-sharded`, routed);

    const connector = new ElasticsearchConnector(catalog.sinks.elasticsearch!);
    expect((await connector.apply([userErased('bob')]))[0]).toEqual([
      { target: `index ${p}-required`, affected: 4, residual: 0 },
      { target: `index ${p}-sharded`, affected: 4, residual: 0 },
    ]);
    const page = await es.search<{ user_id: string; name: string | null }>({ index: `${p}-required,${p}-sharded`, size: 100 });
    const rows = page.hits.hits.map((h) => [h._index.slice(p.length + 1), h._source!.user_id, h._source!.name]);
    expect(rows.sort()).toEqual([
      ...Array.from({ length: 4 }, () => ['required', 'Bob', 'Someone']),
      ...Array.from({ length: 4 }, () => ['sharded', 'Bob', 'Someone']),
      ...Array.from({ length: 4 }, () => ['sharded', 'bob', null]),
    ]);
    await connector.close();
  });

  it('reports a bulk failure with its type and reason but never the document value or id the store quoted', async () => {
    const p = indexPrefix('lsb');
    const catalog = esCatalog(`    user:
      - { index: "${p}-profiles", match: user_id, action: { anonymize: [name] } }
`);
    await using scratch = indicesOf(p);
    const { es } = scratch;
    const mapping = (ignore_malformed: boolean) => ({ properties: { user_id: { type: 'keyword' as const }, name: { type: 'keyword' as const }, age: { type: 'integer' as const, ignore_malformed } } });
    await es.indices.create({ index: `${p}-profiles`, settings, mappings: mapping(true) });
    // A value the mapping ignored when indexed, refused when the update reindexes the document.
    await seed(es, `${p}-profiles`, [{ id: 'ada@seeded.example', doc: { user_id: 'bob', name: 'Bob', age: 'secret-ada-lovelace' } }]);
    await es.indices.putMapping({ index: `${p}-profiles`, ...mapping(false) });

    const connector = new ElasticsearchConnector(catalog.sinks.elasticsearch!);
    const error: unknown = await connector.apply([userErased('bob')]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RecordError);
    const message = (error as Error).message;
    expect(message).toMatch(new RegExp(`^bulk anonymize in ${p}-profiles: 1 item\\(s\\) failed, first: document_parsing_exception: .*failed to parse field \\[age\\] of type \\[integer\\]`));
    const everything = JSON.stringify(error, Object.getOwnPropertyNames(error)) + String((error as Error).stack);
    for (const secret of ['secret-ada-lovelace', 'ada@seeded.example', 'Preview']) expect(everything).not.toContain(secret);
    await connector.close();
  });
});
