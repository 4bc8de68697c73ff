import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseCatalog } from '../../../src/catalog/catalog.js';
import { quoteIdent } from '../../../src/catalog/identifiers.js';
import { findSlot } from '../../../src/cdc/source-database.js';
import { planInit } from '../../../src/setup/init-plan.js';
import { diagnose } from '../../../src/setup/source-session.js';
import { cdcFixture } from '../../support/cdc-fixture.js';
import { endpoints } from '../../support/endpoints.js';
import { pgContext } from '../../support/pg-context.js';
import { waitFor } from '../../support/wait-for.js';

/** A catalog on the stack's servers with this publication, slot and `subjects:` section (YAML). */
function catalogOf(publication: string, slot: string, subjects: string) {
  const e = endpoints();
  return parseCatalog(
    `
source: { url: "${e.databaseUrl}", publication: ${publication}, slot: ${slot} }
kafka: { brokers: "${e.kafkaBrokers.join(',')}", schemaRegistry: "${e.schemaRegistryUrl}" }
subjects:
${subjects}`,
    {},
  );
}

describe('lethe doctor and init against the live database', () => {
  it('names each problem with its fix; init creates publication and slot; then doctor passes', async () => {
    await using db = await pgContext();
    const schema = db.name('schema', 'Doc_s');
    const q = quoteIdent(schema);
    const publication = db.name('publication', 'pub');
    const slot = db.name('slot');
    await db.client.query(`CREATE SCHEMA ${q}`);
    await db.client.query(`CREATE TABLE ${q}."Members" (tenant text, "Id" bigint, PRIMARY KEY (tenant, "Id"))`);
    await db.client.query(`CREATE TABLE ${q}.posts (id bigint PRIMARY KEY, tenant text, author bigint)`);
    const catalog = catalogOf(
      publication,
      slot,
      `
  member:
    table: '"${schema}"."Members"'
    key: [tenant, '"Id"']
    related:
      - { table: '"${schema}".posts', subjectColumn: [tenant, author] }
      - { table: '"${schema}".missing', subjectColumn: [tenant, author] }
`,
    );

    const before = await diagnose(db.client, catalog);
    const problems = before.filter((f) => f.level === 'problem');
    expect(problems.map((p) => p.subject)).toEqual([
      `"${schema}".posts`,
      'subjects.member.related[1].table',
      `publication ${publication}`,
      `slot ${slot}`,
    ]);
    expect(problems[0]!.fix).toBe(`ALTER TABLE ${q}."posts" REPLICA IDENTITY FULL;`);
    expect(problems[1]!.message).toBe(`no such table "${schema}".missing`);
    // The composite primary key carries the root's key: no problem for "Members".
    expect(before.find((f) => f.subject === `"${schema}"."Members"`)?.level).toBe('ok');

    // init's database steps, as `lethe init` applies them (topics and schema are Kafka's side).
    for (const step of planInit(catalog, before, new Set())) {
      if (step.kind === 'sql') await db.client.query(step.sql);
    }
    await db.client.query(`ALTER TABLE ${q}.posts REPLICA IDENTITY FULL`);
    const after = await diagnose(db.client, catalog);
    expect(after.filter((f) => f.level === 'problem').map((f) => f.subject)).toEqual(['subjects.member.related[1].table']);
    expect((await findSlot(db.client, slot))?.plugin).toBe('pgoutput');
    // Idempotent: nothing left for init to do in the database.
    expect(planInit(catalog, after, new Set()).filter((s) => s.kind === 'sql')).toEqual([]);
  });

  it('asks for publish_via_partition_root and for each partition whose replica identity is short', async () => {
    await using db = await pgContext();
    const schema = db.name('schema', 'Part_s');
    const q = quoteIdent(schema);
    const publication = db.name('publication', 'pub');
    const slot = db.name('slot');
    await db.client.query(`CREATE SCHEMA ${q}`);
    await db.client.query(`CREATE TABLE ${q}.members (region text, id bigint, PRIMARY KEY (region, id)) PARTITION BY LIST (region)`);
    await db.client.query(`CREATE TABLE ${q}.members_eu PARTITION OF ${q}.members FOR VALUES IN ('eu')`);
    await db.client.query(`CREATE TABLE ${q}.posts (id bigint, region text, author bigint, PRIMARY KEY (region, id)) PARTITION BY LIST (region)`);
    await db.client.query(`CREATE TABLE ${q}.posts_eu PARTITION OF ${q}.posts FOR VALUES IN ('eu')`);
    await db.client.query(`CREATE TABLE ${q}.posts_us PARTITION OF ${q}.posts FOR VALUES IN ('us')`);
    // On the parent only: each partition keeps its own (primary key) identity.
    await db.client.query(`ALTER TABLE ${q}.posts REPLICA IDENTITY FULL`);
    // A publication as an older `lethe init` made it: partitions publish under their own names.
    await db.client.query(`CREATE PUBLICATION ${quoteIdent(publication)} FOR TABLE ${q}.members, ${q}.posts`);
    const catalog = catalogOf(
      publication,
      slot,
      `
  member:
    table: '"${schema}".members'
    key: [region, id]
    related:
      - { table: '"${schema}".posts', subjectColumn: [region, author] }
`,
    );

    const before = (await diagnose(db.client, catalog)).filter((f) => f.level === 'problem');
    expect(before.map((p) => [p.subject, p.fix])).toEqual([
      [`"${schema}".posts`, `ALTER TABLE ${q}."posts_eu" REPLICA IDENTITY FULL; ALTER TABLE ${q}."posts_us" REPLICA IDENTITY FULL;`],
      [`publication ${publication}`, `ALTER PUBLICATION ${quoteIdent(publication)} SET (publish_via_partition_root = true);`],
      [`slot ${slot}`, `SELECT pg_create_logical_replication_slot('${slot}', 'pgoutput');`],
    ]);
    expect(before[0]!.catalogPaths).toEqual(['subjects.member.related[0].subjectColumn']);

    for (const step of planInit(catalog, before, new Set())) {
      if (step.kind === 'sql') await db.client.query(step.sql);
    }
    await db.client.query(before[0]!.fix!);
    expect((await diagnose(db.client, catalog)).filter((f) => f.level === 'problem')).toEqual([]);
    const { rows } = await db.client.query<{ pubviaroot: boolean }>('SELECT pubviaroot FROM pg_publication WHERE pubname = $1', [publication]);
    expect(rows).toEqual([{ pubviaroot: true }]);
  });

  it('reports a TRUNCATE of a catalogued table loudly and keeps going', async () => {
    await using fx = await cdcFixture();
    const subject = randomUUID();
    await fx.db.client.query(`INSERT INTO ${fx.users} ("UserId", email) VALUES ($1, 't@seeded.example')`, [subject]);
    await fx.db.client.query(`INSERT INTO ${fx.orders} ("UserRef", item) VALUES ($1, 'x')`, [subject]);
    fx.startReader();
    await fx.db.client.query(`TRUNCATE ${fx.orders}`);
    await fx.db.client.query(`DELETE FROM ${fx.users} WHERE "UserId" = $1`, [subject]);
    await fx.slotCaughtUp();
    const truncate = await waitFor(() => fx.logLines.find((l) => l.includes('"code":"TRUNCATE"')), { what: 'the TRUNCATE report' });
    expect(JSON.parse(truncate)).toMatchObject({ level: 50, table: `"${fx.schema}"."Orders"` });
    expect(await fx.publishedCount()).toBe(1);
  });

  it('refuses to run a catalog that names a table the database does not have', async () => {
    await using fx = await cdcFixture();
    const bad = parseCatalog(fx.yaml.replace(`'"${fx.schema}"."Orders"'`, `'"${fx.schema}"."Ordrs"'`), {});
    const { CdcReader } = await import('../../../src/cdc/cdc-reader.js');
    const { capturingLogger } = await import('../../support/log-capture.js');
    const reader = new CdcReader({ catalog: bad, logger: capturingLogger().logger });
    const error = await reader.run(new AbortController().signal).then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ code: 'CATALOG_INVALID' });
    expect((error as Error).message).toContain(`subjects.customer.related[0].table: no such table "${fx.schema}"."Ordrs"`);
  });
});
