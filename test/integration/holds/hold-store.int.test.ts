import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { errorKind, ServiceUnavailableError } from '../../../src/errors.js';
import { holdLockKey, HoldStore, subjectKeyOf } from '../../../src/holds/hold-store.js';
import { trackerSchemaSql } from '../../../src/tracker/status-store.js';
import { closedPort } from '../../support/closed-port.js';
import { endpoints } from '../../support/endpoints.js';
import { pgContext } from '../../support/pg-context.js';
import { waitFor } from '../../support/wait-for.js';

afterEach(() => vi.restoreAllMocks());

/** A HoldStore in a schema of its own, created, dropped with the fixture. */
async function holdStoreFixture() {
  const db = await pgContext();
  const pool = new pg.Pool({ connectionString: endpoints().databaseUrl, max: 2 });
  const store = new HoldStore(pool, db.name('schema', 'holds'));
  await store.ensureSchema();
  return {
    store,
    db,
    async [Symbol.asyncDispose]() {
      await pool.end();
      await db[Symbol.asyncDispose]();
    },
  };
}

describe('HoldStore', () => {
  it('places, lists, finds active holds per subject and releases once', async () => {
    await using held = await holdStoreFixture();
    const { store } = held;
    await store.ensureSchema();
    const a = await store.place({ subjectType: 'user', subjectId: '42', scope: 'sink:redis', basis: 'case 1', reviewAt: '2099-01-31', placedBy: 'cli:ada' });
    const b = await store.place({ subjectType: 'user', subjectId: '42', scope: 'all', basis: 'case 2', reviewAt: '2099-02-28', placedBy: 'cli:ada' });
    await store.place({ subjectType: 'account', subjectId: 'acme/7', scope: 'all', basis: 'case 3', reviewAt: '2099-03-31', placedBy: 'cli:ada' });
    expect(a).toMatchObject({ subjectType: 'user', subjectId: '42', scope: 'sink:redis', basis: 'case 1', reviewAt: '2099-01-31', placedBy: 'cli:ada', releasedAt: null });

    const active = await store.activeFor([{ subjectType: 'user', subjectId: '42' }, { subjectType: 'user', subjectId: '43' }, { subjectType: 'account', subjectId: 'acme/7' }]);
    expect(active.get(subjectKeyOf('user', '42'))!.map((h) => h.id)).toEqual([a.id, b.id]);
    expect(active.has(subjectKeyOf('user', '43'))).toBe(false);
    expect(active.get(subjectKeyOf('account', 'acme/7'))).toHaveLength(1);

    const released = await store.release(a.id, 'cli:bob', 'case closed');
    expect(released.released).toBe(true);
    expect(released.hold).toMatchObject({ releasedBy: 'cli:bob', releaseNote: 'case closed' });
    expect((await store.release(a.id, 'cli:eve', null)).released).toBe(false);
    expect((await store.release(a.id, 'cli:eve', null)).hold.releasedBy).toBe('cli:bob');
    await expect(store.release('hold_nope', 'cli:eve', null)).rejects.toThrow(/no hold hold_nope/);

    expect((await store.activeFor([{ subjectType: 'user', subjectId: '42' }])).get(subjectKeyOf('user', '42'))!.map((h) => h.id)).toEqual([b.id]);
    expect((await store.list({ subjectType: 'user', subjectId: '42' })).map((h) => h.id)).toEqual([b.id]);
    expect((await store.list({ subjectType: 'user', subjectId: '42', includeReleased: true })).map((h) => h.id)).toEqual([a.id, b.id]);
  });

  it("waits to place a hold while a request's erasure holds the subject's hold lock, and places it once that commits", async () => {
    await using held = await holdStoreFixture();
    const { store } = held;
    // The erasure's transaction, as the executor runs it: the subject's hold lock, then the holds.
    const erasure = new pg.Client({ connectionString: endpoints().databaseUrl });
    await erasure.connect();
    await using _e = { [Symbol.asyncDispose]: () => erasure.end() };
    await erasure.query('BEGIN');
    await erasure.query('SELECT pg_advisory_xact_lock(hashtext($1))', [holdLockKey('user', '42')]);
    const placing = store.place({ subjectType: 'user', subjectId: '42', scope: 'all', basis: 'case 9', reviewAt: '2099-01-31', placedBy: 'cli:ada' });
    await waitFor(async () => {
      const { rows } = await held.db.client.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory' AND query LIKE '%subject_lock%'");
      return rows[0]!.n === 1;
    }, { what: 'the placement to wait on the hold lock' });
    expect((await store.activeFor([{ subjectType: 'user', subjectId: '42' }])).size).toBe(0);
    // Another subject's hold is not held up.
    await store.place({ subjectType: 'user', subjectId: '4', scope: 'all', basis: 'case 10', reviewAt: '2099-01-31', placedBy: 'cli:ada' });
    await erasure.query('COMMIT');
    expect((await placing).basis).toBe('case 9');
    expect((await store.activeFor([{ subjectType: 'user', subjectId: '42' }])).get(subjectKeyOf('user', '42'))).toHaveLength(1);
  });

  it('is created by the tracker schema too, idempotently', async () => {
    await using db = await pgContext();
    const schema = db.name('schema', 'tracker');
    await db.client.query(trackerSchemaSql(schema));
    await db.client.query(trackerSchemaSql(schema));
    const { rows } = await db.client.query<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1 AND table_name IN ('holds', 'held_events') ORDER BY 1`, [schema]);
    expect(rows.map((r) => r.t)).toEqual(['held_events', 'holds']);
  });

  it('fails closed: a database that cannot answer is a wait, never "no hold"', async () => {
    const pool = new pg.Pool({ connectionString: `postgres://postgres@127.0.0.1:${await closedPort()}/lethe`, max: 1, connectionTimeoutMillis: 2000 });
    pool.on('error', () => undefined);
    await using _ = { [Symbol.asyncDispose]: () => pool.end() };
    const error = await new HoldStore(pool, 'lethe').activeFor([{ subjectType: 'user', subjectId: '42' }]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServiceUnavailableError);
    expect(errorKind(error)).toBe('infrastructure');
    expect((error as ServiceUnavailableError).service).toBe('postgres');

    // Tables missing (a schema never initialized or dropped): also a wait.
    const reachable = new pg.Pool({ connectionString: endpoints().databaseUrl, max: 1 });
    await using _r = { [Symbol.asyncDispose]: () => reachable.end() };
    const missing = await new HoldStore(reachable, 'no_such_schema_for_holds').activeFor([{ subjectType: 'user', subjectId: '42' }]).catch((e: unknown) => e);
    expect(errorKind(missing)).toBe('infrastructure');
    expect(String(missing)).toMatch(/reading legal holds in schema no_such_schema_for_holds/);
  });
});

describe('lethe hold', () => {
  it('places, lists and releases holds from the command line, as the OS user', async () => {
    await using db = await pgContext();
    const schema = db.name('schema', 'holds');
    // The subjects' tables exist: a hold's key is checked against its column types.
    const shop = db.name('schema', 'holds_shop');
    const crm = db.name('schema', 'holds_crm');
    await db.client.query(`CREATE SCHEMA ${shop}; CREATE SCHEMA ${crm};
      CREATE TABLE ${shop}.users (id bigint PRIMARY KEY); CREATE TABLE ${shop}.invoices (id bigint PRIMARY KEY, user_id bigint);
      CREATE TABLE ${crm}.accounts (tenant text, id bigint, PRIMARY KEY (tenant, id));`);
    const dir = await mkdtemp(join(tmpdir(), 'lethe-hold-'));
    await using _d = { [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) };
    const config = join(dir, 'lethe.config.yaml');
    await writeFile(
      config,
      `source: { url: "${endpoints().databaseUrl}" }
kafka: { brokers: "127.0.0.1:${await closedPort()}", schemaRegistry: "http://127.0.0.1:9" }
subjects:
  user: { table: ${shop}.users, key: id, related: [{ table: ${shop}.invoices, subjectColumn: user_id, key: id }] }
  account: { table: ${crm}.accounts, key: [tenant, id] }
sinks:
  redis: { url: "redis://127.0.0.1:9", user: { keys: ["user:{subject}"] } }
tracker: { schema: ${schema} }
`,
    );
    const run = async (...args: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const o = vi.spyOn(process.stdout, 'write').mockImplementation((c) => (out.push(String(c)), true));
      const e = vi.spyOn(process.stderr, 'write').mockImplementation((c) => (err.push(String(c)), true));
      try {
        return { code: await main(['node', 'lethe', '-c', config, 'hold', ...args]), out: out.join(''), err: err.join('') };
      } finally {
        o.mockRestore();
        e.mockRestore();
      }
    };
    const placed = await run('place', '--subject', 'account:acme/7', '--scope', 'all', '--basis', 'audit 2026', '--review', '2099-06-30', '--by', 'Ada', '--json');
    expect(placed.code, placed.err).toBe(0);
    const hold = JSON.parse(placed.out) as { id: string; subjectId: string; placedBy: string };
    expect(hold.subjectId).toBe('acme/7');
    expect(hold.placedBy).toMatch(/^Ada \(cli:.+\)$/);
    const table = await run('place', '--subject', 'user:42', '--scope', `table:${shop.toUpperCase()}.Invoices`, '--basis', 'tax', '--review', '2099-01-01');
    expect(table.out).toMatch(new RegExp(`^placed hold_[a-z2-7]{26} on user:42 \\(scope table:${shop}\\.invoices\\), review on 2099-01-01\n$`));

    expect((await run('place', '--subject', 'user:42', '--scope', `table:${shop}.orders`, '--basis', 'x', '--review', '2099-01-01')).err).toContain(`${shop}.orders is not a table of subject type user`);
    expect((await run('place', '--subject', 'user:42', '--scope', 'sink:bigquery', '--basis', 'x', '--review', '2099-01-01')).err).toMatch(/no sink bigquery in the catalog/);
    expect((await run('place', '--subject', 'user:42', '--scope', 'all', '--basis', 'x', '--review', '2020-01-01')).err).toMatch(/the review date is in the past/);

    const listed = await run('list');
    expect(listed.out.split('\n')[0]).toMatch(/^id\s+subject\s+scope\s+review\s+placed\s+released\s+basis$/);
    expect(listed.out).toContain('account:acme/7');
    expect(listed.out).toContain(`table:${shop}.invoices`);

    // Released: Kafka is away, so sending on what it kept is left to `lethe run`, and said so.
    const released = await run('release', hold.id, '--note', 'audit closed');
    expect(released.code, released.err).toBe(0);
    expect(released.out).toContain(`released ${hold.id} on account:acme/7 (scope all)`);
    expect(released.err).toMatch(/lethe run sends them on its next tick/);
    expect(JSON.parse((await run('list', '--subject', 'account:acme/7', '--json')).out)).toEqual([]);
    const all = JSON.parse((await run('list', '--subject', 'account:acme/7', '--all', '--json')).out) as Array<{ releaseNote: string }>;
    expect(all.map((h) => h.releaseNote)).toEqual(['audit closed']);
  });
});
