import { describe, expect, it } from 'vitest';
import { CatalogError } from '../../../src/catalog/catalog-error.js';
import { parseCatalog } from '../../../src/catalog/catalog.js';
import { interpolate } from '../../../src/catalog/interpolate.js';

const env = {
  DATABASE_URL: 'postgres://h/db',
  KAFKA_BROKERS: 'k1:9092, k2:9092',
  SCHEMA_REGISTRY_URL: 'http://sr:8081',
};

const example = `
source:
  url: \${DATABASE_URL}
  publication: lethe
  slot: lethe
kafka:
  brokers: \${KAFKA_BROKERS}
  schemaRegistry: \${SCHEMA_REGISTRY_URL}
  topics: { erasures: lethe.subject-erased, acks: lethe.acks }
subjects:
  user:
    table: public.users
    key: id
    erasedWhen:
      - delete
      - update: { column: erased_at, becomes: not_null }
    related:
      - { table: public.orders, subjectColumn: user_id }
      - { table: public.messages, subjectColumn: sender_id }
`;

function problemsOf(text: string, environment: Record<string, string | undefined> = env) {
  try {
    parseCatalog(text, environment);
  } catch (error) {
    expect(error).toBeInstanceOf(CatalogError);
    return (error as CatalogError).problems;
  }
  throw new Error('expected the catalog to be refused');
}

describe('interpolation', () => {
  it('replaces variables in strings, applies defaults and escapes, leaves other scalars', () => {
    const { value, problems } = interpolate(
      { a: '${X}/${Y:-fallback}', b: ['$${literal}', 7, true, null], c: { d: '${MISSING}' } },
      { X: 'x' },
    );
    expect(value).toEqual({ a: 'x/fallback', b: ['${literal}', 7, true, null], c: { d: '${MISSING}' } });
    expect(problems).toEqual([{ path: 'c.d', message: 'environment variable MISSING is not set' }]);
  });
});

describe('catalog', () => {
  it('resolves the documented example', () => {
    const catalog = parseCatalog(example, env);
    expect(catalog.source).toEqual({ url: 'postgres://h/db', publication: 'lethe', slot: 'lethe', heartbeatIntervalMs: 10_000, ackIntervalMs: 0 });
    expect(catalog.kafka.brokers).toEqual(['k1:9092', 'k2:9092']);
    const [user] = catalog.subjects;
    expect(user).toMatchObject({
      type: 'user',
      table: { schema: 'public', name: 'users' },
      key: ['id'],
      erasedWhen: [{ kind: 'delete' }, { kind: 'update', column: 'erased_at', becomes: { kind: 'not_null' } }],
    });
    expect(user!.related.map((r) => [r.table.name, r.subjectColumns, r.path])).toEqual([
      ['orders', ['user_id'], 'subjects.user.related[0]'],
      ['messages', ['sender_id'], 'subjects.user.related[1]'],
    ]);
    expect(catalog.tables().map((t) => t.table.name)).toEqual(['users', 'orders', 'messages']);
  });

  it('refuses replication settings under which no erasure could ever be acknowledged', () => {
    const base = `source: { url: x }\nsubjects:\n  person: { table: people, key: id }\nkafka:\n  brokers: [b:1]\n  schemaRegistry: "http://r"\n`;
    expect(problemsOf(`${base}  replication: { factor: 2, minInsyncReplicas: 3 }\n`).map((p) => p.path)).toEqual(['kafka.replication.minInsyncReplicas']);
    expect(problemsOf(`${base}  replication: { factor: 0 }\n`).map((p) => p.path)).toEqual(['kafka.replication.factor']);
    expect(parseCatalog(`${base}  replication: { factor: 3, minInsyncReplicas: 2 }\n  groupPrefix: shop.prod\n`, {}).kafka).toMatchObject({ replication: { factor: 3, minInsyncReplicas: 2 }, groupPrefix: 'shop.prod' });
  });

  it('applies defaults: topics, slot, publication, erasedWhen delete, no related', () => {
    const catalog = parseCatalog(
      `source: { url: x }\nkafka: { brokers: [b:1], schemaRegistry: "http://r" }\nsubjects:\n  person: { table: people, key: id }\n`,
      {},
    );
    expect(catalog.source).toMatchObject({ publication: 'lethe', slot: 'lethe' });
    expect(catalog.kafka.topics).toEqual({ erasures: 'lethe.subject-erased', acks: 'lethe.acks', status: 'lethe.erasure-status' });
    expect(catalog.tracker).toEqual({ slaMs: 72 * 3_600_000, host: '127.0.0.1', port: 8720, overdueCheckMs: 60_000, database: 'x', schema: 'lethe', tokens: [], allowedHosts: [], trustProxy: [] });
    expect(catalog.requests.enabled).toBe(false);
    expect([catalog.manual, catalog.backups]).toEqual([[], []]);
    expect(catalog.subjects[0]).toMatchObject({ erasedWhen: [{ kind: 'delete' }], related: [] });
  });

  it('takes composite keys and quoted mixed-case names', () => {
    const catalog = parseCatalog(
      `source: { url: x }
kafka: { brokers: b:1, schemaRegistry: "http://r" }
subjects:
  account:
    table: '"Billing"."CustomerAccounts"'
    key: [tenant_id, '"AccountId"']
    erasedWhen: [{ update: { column: '"Status"', becomes: { equals: erased } } }]
    related:
      - { table: '"Billing"."Invoices"', subjectColumn: [tenant_id, '"AccountRef"'] }
`,
      {},
    );
    const [account] = catalog.subjects;
    expect(account!.table).toEqual({ schema: 'Billing', name: 'CustomerAccounts' });
    expect(account!.key).toEqual(['tenant_id', 'AccountId']);
    expect(account!.erasedWhen).toEqual([{ kind: 'update', column: 'Status', becomes: { kind: 'equals', value: 'erased' } }]);
    expect(account!.related[0]!.subjectColumns).toEqual(['tenant_id', 'AccountRef']);
  });

  it('names each bad entry by its path, all at once', () => {
    const problems = problemsOf(`
source: { url: "\${NOPE}", slot: "Bad-Slot" }
kafka: { brokers: "", schemaRegistry: "not a url", topics: { erasures: "bad topic!" } }
subjects:
  user:
    table: public.users
    key: [tenant_id, id]
    relatd: []
    related:
      - { table: public.orders, subjectColumn: user_id }
      - { table: "a.b.c", subjectColumn: [x, y] }
`);
    const paths = problems.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'source.url',
        'source.slot',
        'kafka.brokers',
        'kafka.schemaRegistry',
        'kafka.topics.erasures',
        'subjects.user',
        'subjects.user.related[1].table',
      ]),
    );
    expect(problems.find((p) => p.path === 'source.url')!.message).toMatch(/NOPE is not set/);
    expect(problems.find((p) => p.path === 'subjects.user')!.message).toMatch(/relatd/);
  });

  it('checks key arity and root uniqueness across entries', () => {
    const problems = problemsOf(`
source: { url: x }
kafka: { brokers: b:1, schemaRegistry: "http://r" }
subjects:
  user:
    table: users
    key: [tenant_id, id]
    related:
      - { table: orders, subjectColumn: user_id }
      - { table: users, subjectColumn: [a, b] }
  member: { table: public.users, key: id }
`);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: 'subjects.user.related[0].subjectColumn', message: expect.stringMatching(/1 column.*2/) }),
        expect.objectContaining({ path: 'subjects.user.related[1].table' }),
        expect.objectContaining({ path: 'subjects.member.table', message: expect.stringMatching(/already the root table of subject user/) }),
      ]),
    );
  });

  it('reads manual systems, backups with their retention, and the tracker SLA', () => {
    const base = `source: { url: x }\nkafka: { brokers: b:1, schemaRegistry: "http://r" }\nsubjects: { u: { table: t, key: id }, v: { table: w, key: id } }\n`;
    const catalog = parseCatalog(
      `${base}manual:\n  - { name: support-inbox, owner: support@corp.example, action: redact tickets, subjects: [u] }\nbackups:\n  - { name: pg-nightly, retention: 30d, onRestore: "lethe replay --sink primary --since <t>" }\ntracker: { sla: 36h }\n`,
      {},
    );
    expect(catalog.manual).toEqual([{ name: 'support-inbox', owner: 'support@corp.example', action: 'redact tickets', subjects: ['u'] }]);
    expect(catalog.backups).toEqual([{ name: 'pg-nightly', retentionMs: 30 * 86_400_000, onRestore: 'lethe replay --sink primary --since <t>' }]);
    expect(catalog.tracker.slaMs).toBe(36 * 3_600_000);
    expect(problemsOf(`${base}backups: [{ name: b1, retention: 30 days }]\nmanual: [{ name: b1, owner: o, action: a, subjects: [nobody] }]\n`)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: 'backups[0].retention', message: expect.stringMatching(/whole number and a unit/) }),
      ]),
    );
    expect(problemsOf(`${base}backups: [{ name: b1, retention: 3d }]\nmanual: [{ name: b1, owner: o, action: a, subjects: [nobody] }]\n`)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: 'backups[0].name', message: expect.stringMatching(/already the name of manual\[0\]/) }),
        expect.objectContaining({ path: 'manual[0].subjects[0]', message: 'no subject type nobody in subjects' }),
      ]),
    );
  });

  it('takes whole numbers from environment variables, and names the setting a bad one is for', () => {
    const text = `source: { url: x, heartbeatIntervalMs: "\${BEAT}" }\nkafka: { brokers: b:1, schemaRegistry: "http://r" }\nsubjects: { u: { table: t, key: id } }\ntracker:\n  port: \${PORT}\nsinks: { settings: { maxBatchEvents: "\${BATCH:-50}" } }\n`;
    const catalog = parseCatalog(text, { PORT: '9090', BEAT: '2500' });
    expect(catalog.tracker.port).toBe(9090);
    expect(catalog.source.heartbeatIntervalMs).toBe(2500);
    expect(catalog.sinks.settings.maxBatchEvents).toBe(50);
    expect(problemsOf(text, { PORT: 'eighty', BEAT: '2.5' }).map((p) => p.path)).toEqual(expect.arrayContaining(['tracker.port', 'source.heartbeatIntervalMs']));
  });

  it("reads the API's token hashes from tracker.tokens and LETHE_API_TOKENS, and refuses a token in place of its hash", () => {
    const hash = 'ab'.repeat(32);
    const base = `source: { url: x }\nkafka: { brokers: b:1, schemaRegistry: "http://r" }\nsubjects: { u: { table: t, key: id } }\n`;
    const text = `${base}tracker:\n  host: 10.0.0.5\n  allowedHosts: [lethe.corp.example]\n  tls: { cert: /etc/lethe/cert.pem, key: /etc/lethe/key.pem }\n  tokens:\n    - { name: ops-alice, role: operator, sha256: ${hash.toUpperCase()} }\n`;
    const catalog = parseCatalog(text, { LETHE_API_TOKENS: `ci-reader:reader:${'cd'.repeat(32)}, grafana:reader:${'ef'.repeat(32)}` });
    expect(catalog.tracker).toMatchObject({
      tokens: [
        { name: 'ops-alice', role: 'operator', sha256: hash },
        { name: 'ci-reader', role: 'reader', sha256: 'cd'.repeat(32) },
        { name: 'grafana', role: 'reader', sha256: 'ef'.repeat(32) },
      ],
      allowedHosts: ['lethe.corp.example'],
      tls: { cert: '/etc/lethe/cert.pem', key: '/etc/lethe/key.pem' },
    });
    const bad = `${base}tracker:\n  tokens:\n    - { name: ops-alice, role: admin, sha256: ${hash} }\n    - { name: Bob, role: reader, sha256: lethe_abc }\n    - { name: ops-alice, role: reader, sha256: ${hash} }\n`;
    expect(problemsOf(bad, { LETHE_API_TOKENS: `ops-alice:reader:${hash},carol:reader` })).toEqual(
      expect.arrayContaining([
        { path: 'tracker.tokens[0].role', message: 'a role is one of reader, operator' },
        expect.objectContaining({ path: 'tracker.tokens[1].name' }),
        { path: 'tracker.tokens[1].sha256', message: 'this is a token, not its hash; configure the hash `lethe token create` printed, and never the token itself' },
      ]),
    );
    const twice = `${base}tracker:\n  tokens:\n    - { name: ops-alice, role: operator, sha256: ${hash} }\n    - { name: ops-alice, role: reader, sha256: ${hash} }\n`;
    expect(problemsOf(twice, { LETHE_API_TOKENS: `ops-alice:reader:${hash}` })).toEqual([
      { path: 'tracker.tokens[1].name', message: 'ops-alice is already the name of another token' },
    ]);
    expect(problemsOf(`${base}tracker: { tokens: [] }\n`, { LETHE_API_TOKENS: `carol:reader` })).toEqual([
      { path: '(environment LETHE_API_TOKENS)', message: 'entry 1: sha256: 64 hex digits (the SHA-256 of the token, as `lethe token create` prints it)' },
    ]);
  });

  it('rejects an unknown top-level key and reports YAML syntax errors', () => {
    expect(problemsOf(`subjets: {}\nsource: { url: x }\nkafka: { brokers: b, schemaRegistry: "http://r" }\nsubjects: { u: { table: t, key: id } }`)[0]).toMatchObject({
      path: '',
      message: expect.stringMatching(/subjets/),
    });
    expect(problemsOf('source: [unclosed')[0]!.message).toMatch(/^YAML/);
  });
});

describe('topics of a deployment', () => {
  it('acks and statuses not named follow the erasures topic, so two deployments never share them', async () => {
    const { topicsOf } = await import('../../../src/catalog/catalog.js');
    expect(topicsOf({ erasures: 'lethe.subject-erased' })).toEqual({ erasures: 'lethe.subject-erased', acks: 'lethe.acks', status: 'lethe.erasure-status' });
    expect(topicsOf({ erasures: 'staging.erased' })).toEqual({ erasures: 'staging.erased', acks: 'staging.erased.acks', status: 'staging.erased.status' });
    expect(topicsOf({ erasures: 'staging.erased', acks: 'shared.acks' })).toMatchObject({ acks: 'shared.acks', status: 'staging.erased.status' });
  });
});
