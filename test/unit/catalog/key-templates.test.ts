import { describe, expect, it } from 'vitest';
import { delimiterClash, wideningOf } from '../../../src/catalog/key-template.js';
import { parseCatalog } from '../../../src/catalog/catalog.js';
import { catalogProblems } from '../../support/catalog-problems.js';

const base = `source: { url: x }\nkafka: { brokers: b:1, schemaRegistry: "http://r" }\nsubjects:\n  user: { table: users, key: id, related: [{ table: orders, subjectColumn: user_id, key: [region, order_no] }, { table: notes, subjectColumn: user_id }] }\n`;
const problems = (text: string) => catalogProblems(base + text);
const redis = (subject: string) => `sinks:\n  redis: { url: "redis://x", user: ${subject} }\n`;

describe('templates that cannot widen', () => {
  it('must name the subject: a fixed key would be erased for every subject', () => {
    expect(wideningOf('cache:all', { pattern: false, allowRow: false })).toMatch(/names no subject/);
    expect(problems(redis('{ keys: ["cache:all"] }'))).toEqual([{ path: 'sinks.redis.user.keys[0]', message: expect.stringMatching(/"cache:all" names no subject/) }]);
    // A shared hash or set is fine: its field or member names the subject.
    expect(problems(redis('{ hashFields: [{ key: emails, field: "{subject}" }], setMembers: [{ key: online, member: "{subject}" }] }'))).toEqual([]);
    expect(problems(redis('{ hashFields: [{ key: emails, field: "all" }] }'))[0]).toMatchObject({ path: 'sinks.redis.user.hashFields[0].field' });
    expect(problems(redis('{ setMembers: [{ key: "online:{subject}", member: "x" }] }'))[0]).toMatchObject({ path: 'sinks.redis.user.setMembers[0].member' });
    expect(problems(`sinks:\n  compacted: { user: [{ topic: t, key: "profiles" }] }\n`)[0]).toMatchObject({ path: 'sinks.compacted.user[0].key', message: expect.stringMatching(/names no subject/) });
  });

  it('refuses a glob right beside a placeholder, which would run into a neighbour value (4 matching 42)', () => {
    expect(wideningOf('session:{subject}*', { pattern: true, allowRow: false })).toMatch(/\* right after \{subject\} runs past the value/);
    expect(wideningOf('session:*{subject}', { pattern: true, allowRow: false })).toMatch(/\* right before \{subject\}/);
    expect(wideningOf('session:{subject}?:*', { pattern: true, allowRow: false })).toMatch(/\? right after/);
    expect(wideningOf('session:{subject}:*', { pattern: true, allowRow: false })).toBeUndefined();
    expect(wideningOf('tenant:*:user:{subject}:*', { pattern: true, allowRow: false })).toBeUndefined();
    expect(problems(redis('{ keys: ["session:{subject}*"] }'))).toEqual([{ path: 'sinks.redis.user.keys[0]', message: expect.stringMatching(/put a delimiter between them, e\.g\. \{subject\}:\*/) }]);
  });

  it('refuses placeholders side by side, whose values run together (1+23 and 12+3)', () => {
    expect(wideningOf('acct:{key.a}{key.b}', { pattern: false, allowRow: false })).toMatch(/stand side by side/);
    expect(wideningOf('acct:{key.a}:{key.b}', { pattern: false, allowRow: false })).toBeUndefined();
  });

  it('finds a value that holds the delimiter beside its placeholder in a pattern', () => {
    const values = (subject: string) => ({ subject, key: { id: subject } });
    expect(delimiterClash('session:{subject}:*', values('4:x'))).toEqual({ placeholder: '{subject}', delimiter: ':' });
    expect(delimiterClash('*:s:{subject}', values('a:s:4'))).toEqual({ placeholder: '{subject}', delimiter: ':' });
    expect(delimiterClash('session:{subject}:*', values('ada@example.com'))).toBeUndefined();
    expect(delimiterClash('session/{subject}/*', values('4:x'))).toBeUndefined();
    // An exact key: only the text between two placeholders is in doubt.
    expect(delimiterClash('user:{subject}', values('4:x'))).toBeUndefined();
    expect(delimiterClash('acct:{key.t}:{key.u}', { subject: 'x', key: { t: 'a:b', u: 'c' } })).toEqual({ placeholder: '{key.t}', delimiter: ':' });
    expect(delimiterClash('acct:{key.t}:{key.u}', { subject: 'x', key: { t: 'a', u: 'b:c' } })).toEqual({ placeholder: '{key.u}', delimiter: ':' });
    expect(delimiterClash('acct:{key.t}:{key.u}', { subject: 'x', key: { t: 'a', u: 'b' } })).toBeUndefined();
  });

  it('{row.<column>} names a declared key column of the related table, never another column', () => {
    const related = (table: string, template: string) => problems(redis(`{ related: { ${table}: ["${template}"] } }`));
    expect(related('orders', 'order:{row.region}:{row.order_no}')).toEqual([]);
    expect(related('orders', 'order:{row.email}')).toEqual([
      { path: 'sinks.redis.user.related.orders[0]', message: expect.stringMatching(/events carry only the key of public\.orders \(region, order_no, declared at subjects\.user\.related\[0\]\.key\), not email/) },
    ]);
    expect(related('notes', 'note:{row.id}')).toEqual([
      { path: 'sinks.redis.user.related.notes[0]', message: expect.stringMatching(/declare the primary key of public\.notes as `key` at subjects\.user\.related\[1\]/) },
    ]);
    expect(problems(`sinks:\n  compacted: { user: [{ topic: t, key: "{row.email}", related: orders }] }\n`)[0]).toMatchObject({ path: 'sinks.compacted.user[0].key', message: expect.stringMatching(/not email/) });
  });

  it('names the declared related tables when a sink names another (a misspelling on either side)', () => {
    expect(problems(redis('{ related: { ordrs: ["order:{row.order_no}"] } }'))).toEqual([
      {
        path: 'sinks.redis.user.related.ordrs',
        message:
          'public.ordrs is not a related table of subject user: subjects.user.related declares public.orders, public.notes; ' +
          'subjects.user.related[0].table names public.orders: a misspelling of public.ordrs there, or of public.orders here?',
      },
    ]);
  });
});

describe('an unknown form names the accepted ones', () => {
  it('for actions, matches and erasure rules', () => {
    expect(problems(`sinks:\n  elasticsearch: { node: n, user: [{ index: i, match: id, action: remove }] }\n`)).toEqual([
      { path: 'sinks.elasticsearch.user[0].action', message: 'an Elasticsearch action is delete, or { anonymize: [<field>, …] } (the fields are set to null)' },
    ]);
    expect(problems(`sinks:\n  bigquery: { projectId: p, user: [{ table: a.b, match: id, action: { anonymise: { x: null } } }] }\n`)[0]).toMatchObject({
      path: 'sinks.bigquery.user[0].action',
      message: expect.stringMatching(/^a BigQuery action is delete, or \{ anonymize:/),
    });
    expect(problems(`sinks:\n  elasticsearch: { node: n, user: [{ index: i, match: [id], action: delete }] }\n`)[0]).toMatchObject({ message: expect.stringMatching(/^a match is one field name/) });
    const rule = `source: { url: x }\nkafka: { brokers: b:1, schemaRegistry: "http://r" }\nsubjects:\n  user: { table: users, key: id, erasedWhen: [remove] }\n`;
    expect(() => parseCatalog(rule, {})).toThrow(/subjects\.user\.erasedWhen\[0\]: an erasedWhen rule is delete, or \{ update:/);
  });
});
