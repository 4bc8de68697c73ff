import { describe, expect, it } from 'vitest';
import { parseCatalog } from '../../../src/catalog/catalog.js';
import { checkPseudonymization } from '../../../src/setup/pseudonymization-checks.js';

const catalog = parseCatalog(
  `source: { url: x }\nkafka: { brokers: b:1, schemaRegistry: "http://r" }\nsubjects:\n  user: { table: users, key: id }\npseudonymization: { hmacKey: k2026 }\nsinks:\n  bigquery:\n    projectId: p\n    user:\n      - { table: wh.orders, match: user_id, action: { anonymize: { phone: hmac } } }\n`,
  {},
);

describe('doctor: the hmac key', () => {
  it('is a problem when missing, naming the variable and the targets that need it; ok without showing it when set', () => {
    expect(checkPseudonymization(catalog, {})).toEqual([
      {
        level: 'problem',
        subject: 'pseudonymization.hmacKey k2026',
        message: 'hmac key k2026 is not set: set LETHE_HMAC_KEY_K2026 (or LETHE_HMAC_KEY_K2026_FILE naming a file holding it); sinks.bigquery.user[0] cannot start without it',
        fix: expect.stringContaining('set LETHE_HMAC_KEY_K2026 to a random secret of at least 32 bytes'),
      },
    ]);
    const secret = 's'.repeat(40);
    const [ok] = checkPseudonymization(catalog, { LETHE_HMAC_KEY_K2026: secret });
    expect(ok).toEqual({ level: 'ok', subject: 'pseudonymization.hmacKey k2026', message: 'key read from LETHE_HMAC_KEY_K2026; used by sinks.bigquery.user[0]' });
    expect(JSON.stringify(ok)).not.toContain(secret);
  });
});
