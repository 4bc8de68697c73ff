import { describe, expect, it } from 'vitest';
import { parseCatalog } from '../../src/catalog/catalog.js';
import { checkPatternDelimiters, patternUses } from '../../src/setup/pattern-checks.js';

const catalog = parseCatalog(
  `source: { url: x }
kafka: { brokers: b:1, schemaRegistry: "http://r" }
subjects:
  user: { table: users, key: id, related: [{ table: orders, subjectColumn: user_id, key: code }] }
  member: { table: members, key: email }
  account: { table: accounts, key: [tenant, id] }
sinks:
  redis:
    url: redis://x
    user: { keys: ["user:{subject}", "session:{subject}:*"], related: { orders: ["order:{row.code}:*"] } }
    member: { keys: ["sess:{subject}:*", "m/{subject}/*"] }
    account: { keys: ["acct:{subject}:*", "acct-{key.tenant}/*"] }
`,
  {},
);
const types: Record<string, string> = { 'public.users.id': 'bigint', 'public.orders.code': 'text', 'public.members.email': 'text', 'public.accounts.tenant': 'uuid' };
const typeOf = (table: { schema: string; name: string }, column: string) => types[`${table.schema}.${table.name}.${column}`];

describe('doctor: Redis pattern delimiters against column types', () => {
  it('lists every placeholder of a pattern with the characters beside it, exact keys left out', () => {
    expect(patternUses(catalog).map((u) => [u.path, u.placeholder, u.delimiters.join('')])).toEqual([
      ['sinks.redis.user.keys[1]', 'subject', '::'],
      ['sinks.redis.user.related.public.orders[0]', 'row.code', '::'],
      ['sinks.redis.member.keys[0]', 'subject', '::'],
      ['sinks.redis.member.keys[1]', 'subject', '//'],
      ['sinks.redis.account.keys[0]', 'subject', '::'],
      ['sinks.redis.account.keys[1]', 'key.tenant', '-/'],
    ]);
  });

  it('warns where a column can print the delimiter: text always, a uuid for "-", a composite id for "/"', () => {
    const findings = checkPatternDelimiters(patternUses(catalog), typeOf);
    expect(findings.map((f) => [f.level, f.subject])).toEqual([
      ['warn', 'sinks.redis.user.related.public.orders[0]'],
      ['warn', 'sinks.redis.member.keys[0]'],
      ['warn', 'sinks.redis.member.keys[1]'],
      ['warn', 'sinks.redis.account.keys[1]'],
    ]);
    expect(findings[1]!.message).toMatch(/comes from public\.members\.email \(text\), whose values can hold ':'/);
    expect(findings[3]!.message).toMatch(/public\.accounts\.tenant \(uuid\), whose values can hold '-'/);
  });
});
