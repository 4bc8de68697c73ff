import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCatalog } from '../../../src/catalog/catalog.js';
import { catalogProblems } from '../../support/catalog-problems.js';
import { pseudonymOf, readHmacKey } from '../../../src/catalog/pseudonymization.js';
import { bqActionText, sinkTargetsOf } from '../../../src/catalog/targets.js';

const base = `source: { url: x }\nkafka: { brokers: b:1, schemaRegistry: "http://r" }\nsubjects:\n  user: { table: users, key: id }\n`;
const bigquery = (anonymize: string, extra = '') => `${base}${extra}sinks:\n  bigquery:\n    projectId: p\n    user:\n      - { table: wh.orders, match: user_id, action: { anonymize: ${anonymize} } }\n`;
const problems = (text: string) => catalogProblems(text);

describe('BigQuery replacements', () => {
  it('are null, hash, hmac or an explicit literal; a bare word is refused at its path, listing the forms', () => {
    const catalog = parseCatalog(bigquery('{ email: null, name: { literal: "Deleted user" }, age: { literal: 0 }, ssn: hash, phone: hmac }', 'pseudonymization: { hmacKey: k2026 }\n'), {});
    const [target] = catalog.sinks.bigquery!.subjects.get('user')!;
    expect(target!.action).toEqual({
      kind: 'anonymize',
      columns: { email: { kind: 'null' }, name: { kind: 'literal', value: 'Deleted user' }, age: { kind: 'literal', value: 0 }, ssn: { kind: 'hash' }, phone: { kind: 'hmac', keyId: 'k2026' } },
    });
    expect(catalog.pseudonymization).toEqual({ hmacKey: 'k2026' });

    const [misspelt] = problems(bigquery('{ phone: hsah }'));
    expect(misspelt).toEqual({ path: 'sinks.bigquery.user[0].action.anonymize.phone', message: expect.stringContaining('"hsah" is not a replacement; the accepted forms are null, hash') });
    expect(misspelt!.message).toContain('{ literal: "hsah" }');
    expect(problems(bigquery('{ name: "Deleted user" }'))[0]).toMatchObject({ path: 'sinks.bigquery.user[0].action.anonymize.name' });
    expect(problems(bigquery('{ name: { literal: [1] } }'))[0]).toMatchObject({ path: 'sinks.bigquery.user[0].action.anonymize.name' });
    expect(problems(bigquery('{ name: { literal: x, extra: 1 } }'))[0]).toMatchObject({ path: 'sinks.bigquery.user[0].action.anonymize.name' });
  });

  it('hmac needs pseudonymization.hmacKey, a lower-case id', () => {
    expect(problems(bigquery('{ phone: hmac }'))).toEqual([{ path: 'sinks.bigquery.user[0].action.anonymize.phone', message: expect.stringMatching(/hmac needs the key id: add pseudonymization: \{ hmacKey: <id> \}/) }]);
    expect(problems(bigquery('{ phone: hmac }', 'pseudonymization: { hmacKey: K-1 }\n'))[0]).toMatchObject({ path: 'pseudonymization.hmacKey' });
  });

  it('say "pseudonymize" with the method and key for hash and hmac, "anonymize" for null and literal', () => {
    expect(bqActionText({ email: { kind: 'null' }, name: { kind: 'literal', value: 'x' }, phone: { kind: 'hmac', keyId: 'k2026' }, ssn: { kind: 'hash' } })).toBe(
      'anonymize email, name; pseudonymize phone: HMAC-SHA256 key k2026, ssn: SHA-256 unkeyed',
    );
    expect(bqActionText({ phone: { kind: 'hash' } })).toBe('pseudonymize phone: SHA-256 unkeyed');
    const catalog = parseCatalog(bigquery('{ email: null, phone: hmac }', 'pseudonymization: { hmacKey: k2026 }\n'), {});
    expect(sinkTargetsOf(catalog.sinks, 'user')).toEqual([{ sink: 'bigquery', target: 'table wh.orders', action: 'anonymize email; pseudonymize phone: HMAC-SHA256 key k2026' }]);
  });
});

describe('hmac keys', () => {
  const secret = 'a'.repeat(32);

  it('come from LETHE_HMAC_KEY_<ID> or the file LETHE_HMAC_KEY_<ID>_FILE names, never shorter than 32 bytes', () => {
    expect(readHmacKey('k2026', { LETHE_HMAC_KEY_K2026: secret })).toEqual(Buffer.from(secret));
    const dir = mkdtempSync(join(tmpdir(), 'lethe-key-'));
    writeFileSync(join(dir, 'key'), `${secret}\n`);
    expect(readHmacKey('k2026', { LETHE_HMAC_KEY_K2026_FILE: join(dir, 'key') })).toEqual(Buffer.from(secret));
    expect(() => readHmacKey('k2026', {})).toThrow('hmac key k2026 is not set: set LETHE_HMAC_KEY_K2026 (or LETHE_HMAC_KEY_K2026_FILE naming a file holding it)');
    expect(() => readHmacKey('k2026', { LETHE_HMAC_KEY_K2026: 'short' })).toThrow(/has 5 bytes; at least 32/);
    expect(() => readHmacKey('k2026', { LETHE_HMAC_KEY_K2026_FILE: join(dir, 'none') })).toThrow(/cannot read LETHE_HMAC_KEY_K2026_FILE .*ENOENT/);
    expect(() => readHmacKey('k2026', { LETHE_HMAC_KEY_K2026: secret, LETHE_HMAC_KEY_K2026_FILE: join(dir, 'key') })).toThrow(/both/);
  });

  it('make a pseudonym that names its key, differs per key, and never shows the secret', () => {
    const p = pseudonymOf('k2026', Buffer.from(secret), '555-0107');
    expect(p).toMatch(/^hmac:k2026:[0-9a-f]{64}$/);
    expect(p).toBe(pseudonymOf('k2026', Buffer.from(secret), '555-0107'));
    expect(p.slice(-64)).not.toBe(pseudonymOf('k2027', Buffer.from('b'.repeat(32)), '555-0107').slice(-64));
    expect(p).not.toContain(secret);
  });
});
