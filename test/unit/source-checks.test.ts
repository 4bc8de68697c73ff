import { describe, expect, it } from 'vitest';
import { parseCatalog } from '../../src/catalog/catalog.js';
import { tableKey, type TableRef } from '../../src/catalog/identifiers.js';
import { checkSource } from '../../src/cdc/source-checks.js';
import type { IdentityFacts, SourceFacts, TableFacts } from '../../src/cdc/source-inspection.js';
import { planInit, describeStep } from '../../src/setup/init-plan.js';

const catalog = parseCatalog(
  `
source: { url: x, publication: lethe_pub }
kafka: { brokers: b:1, schemaRegistry: "http://r" }
subjects:
  user:
    table: public.users
    key: id
    related:
      - { table: public.events, subjectColumn: user_id }
  account:
    table: public.accounts
    key: code
    erasedWhen: [{ update: { column: erased_at, becomes: not_null } }]
`,
  {},
);
const users = { schema: 'public', name: 'users' };
const events = { schema: 'public', name: 'events' };
const accounts = { schema: 'public', name: 'accounts' };

const identity = (table: TableRef, replicaIdentity: IdentityFacts['replicaIdentity'], columns: string[]): IdentityFacts => ({
  table,
  replicaIdentity,
  identityColumns: new Set(columns),
});
const table = (ident: IdentityFacts, columns: string[], partitions: IdentityFacts[] = [], primaryKey = ['id']): TableFacts => ({
  ...ident,
  exists: true,
  columns: new Set(columns),
  primaryKey,
  partitioned: partitions.length > 0,
  partitions,
});

function facts(tables: TableFacts[], publication: Partial<SourceFacts['publication']> = {}): SourceFacts {
  return {
    walLevel: 'logical',
    tables: new Map(tables.map((t) => [tableKey(t.table), t])),
    publication: {
      exists: true,
      tables: new Set(tables.map((t) => tableKey(t.table))),
      publishes: { update: true, delete: true, truncate: true },
      viaRoot: false,
      ...publication,
    },
    slot: { plugin: 'pgoutput', active: false, activePid: null, confirmedFlushLsn: '0/10', retainedBytes: 0, walStatus: 'reserved' },
  };
}

const healthy = [
  table(identity(users, 'd', ['id']), ['id', 'email']),
  table(identity(events, 'f', ['id', 'user_id', 'body']), ['id', 'user_id', 'body']),
  // Erased by update only: its key travels in the new row, whatever the replica identity.
  table(identity(accounts, 'd', ['id']), ['id', 'code', 'erased_at']),
];

describe('checkSource', () => {
  it('checks a related table\'s declared key against its primary key, which deletes must carry', () => {
    const keyed = parseCatalog(
      `source: { url: x, publication: lethe_pub }\nkafka: { brokers: b:1, schemaRegistry: "http://r" }\nsubjects:\n  user:\n    table: public.users\n    key: id\n    related:\n      - { table: public.events, subjectColumn: user_id, key: id }\n`,
      {},
    );
    const withEvents = (events_: TableFacts) => checkSource(keyed, facts([healthy[0]!, events_])).filter((f) => f.level === 'problem');
    expect(withEvents(table(identity(events, 'd', ['id']), ['id', 'user_id'], [], ['id'])).map((f) => f.subject)).toEqual(['public.events']); // user_id not carried
    expect(withEvents(table(identity(events, 'f', ['id', 'user_id']), ['id', 'user_id'], [], ['id']))).toEqual([]);
    expect(withEvents(table(identity(events, 'f', ['id', 'user_id']), ['id', 'user_id'], [], []))).toEqual([
      expect.objectContaining({ subject: 'subjects.user.related[0].key', message: expect.stringMatching(/public.events has no primary key/), fix: 'ALTER TABLE "public"."events" ADD PRIMARY KEY ("id");' }),
    ]);
    expect(withEvents(table(identity(events, 'f', ['id', 'user_id', 'n']), ['id', 'user_id', 'n'], [], ['id', 'n']))).toEqual([
      expect.objectContaining({ subject: 'subjects.user.related[0].key', message: 'declares (id) but the primary key of public.events is (id, n); events carry the primary key only' }),
    ]);
    // An identity index that does not hold the declared key: a delete could not name the row.
    expect(withEvents(table(identity(events, 'i', ['user_id']), ['id', 'user_id'], [], ['id'])).map((f) => [f.subject, f.catalogPaths])).toEqual([['public.events', ['subjects.user.related[0].key']]]);
  });

  it('passes a database whose identities carry what deletes need', () => {
    const findings = checkSource(catalog, facts(healthy));
    expect(findings.filter((f) => f.level !== 'ok')).toEqual([]);
    expect(findings.find((f) => f.subject === 'public.accounts')?.message).toMatch(/update only/);
  });

  it('names the catalog entries a short replica identity leaves unable to name their subject', () => {
    const findings = checkSource(catalog, facts([healthy[0]!, table(identity(events, 'd', ['id']), ['id', 'user_id', 'body']), healthy[2]!]));
    expect(findings.filter((f) => f.level === 'problem')).toEqual([
      {
        level: 'problem',
        subject: 'public.events',
        message: 'replica identity (DEFAULT (primary key)) does not carry user_id, so a delete cannot name its subject',
        fix: 'ALTER TABLE "public"."events" REPLICA IDENTITY FULL;',
        catalogPaths: ['subjects.user.related[0].subjectColumn'],
      },
    ]);
  });

  it("checks a partitioned table's partitions, whose identities ALTER TABLE on the parent leaves alone", () => {
    const parent = identity(events, 'f', ['id', 'user_id', 'body']);
    const partitions = [identity({ schema: 'public', name: 'events_1' }, 'f', ['id', 'user_id', 'body']), identity({ schema: 'public', name: 'events_2' }, 'd', ['id'])];
    const [problem] = checkSource(catalog, facts([healthy[0]!, table(parent, ['id', 'user_id', 'body'], partitions), healthy[2]!], { viaRoot: true })).filter((f) => f.level === 'problem');
    expect(problem).toMatchObject({
      subject: 'public.events',
      message: 'replica identity (partition public.events_2: DEFAULT (primary key)) does not carry user_id, so a delete cannot name its subject',
      fix: 'ALTER TABLE "public"."events_2" REPLICA IDENTITY FULL;',
      catalogPaths: ['subjects.user.related[0].subjectColumn'],
    });
  });

  it('asks for publish_via_partition_root when a catalogued table is partitioned, and init sets it', () => {
    const partitionedUsers = table(identity(users, 'd', ['id']), ['id', 'email'], [identity({ schema: 'public', name: 'users_a' }, 'd', ['id'])]);
    const off = checkSource(catalog, facts([partitionedUsers, healthy[1]!, healthy[2]!]));
    const problems = off.filter((f) => f.level === 'problem');
    expect(problems).toEqual([
      {
        level: 'problem',
        subject: 'publication lethe_pub',
        message: "publishes public.users under each partition's name (publish_via_partition_root is off), so their deletes would not match the catalog",
        fix: 'ALTER PUBLICATION "lethe_pub" SET (publish_via_partition_root = true);',
        initFixes: true,
      },
    ]);
    expect(planInit(catalog, off, new Set()).filter((s) => s.kind === 'sql').map(describeStep)).toEqual([problems[0]!.fix]);
    const on = checkSource(catalog, facts([partitionedUsers, healthy[1]!, healthy[2]!], { viaRoot: true }));
    expect(on.filter((f) => f.level !== 'ok')).toEqual([]);
    // Without partitioned tables the setting does not matter.
    expect(checkSource(catalog, facts(healthy, { viaRoot: false })).filter((f) => f.level !== 'ok')).toEqual([]);
  });

  it('has init create the publication via the partition root', () => {
    const findings = checkSource(catalog, facts(healthy, { exists: false, tables: new Set() }));
    const steps = planInit(catalog, findings, new Set()).filter((s) => s.kind === 'sql').map(describeStep);
    expect(steps[0]).toBe(
      'CREATE PUBLICATION "lethe_pub" FOR TABLE "public"."users", "public"."events", "public"."accounts" WITH (publish_via_partition_root = true);',
    );
  });
});
