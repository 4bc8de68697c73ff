import { createHash } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { parseCatalog, type Catalog } from '../../../src/catalog/catalog.js';
import { quoteIdent } from '../../../src/catalog/identifiers.js';
import { pseudonymOf } from '../../../src/catalog/pseudonymization.js';
import { RecordError, ServiceUnavailableError } from '../../../src/errors.js';
import { resolveIdentity } from '../../../src/requests/identity-resolution.js';
import { PrimaryExecutor, RequestRefusedError } from '../../../src/requests/primary-executor.js';
import { checkRequestHandlers } from '../../../src/setup/request-handler-checks.js';
import { closedPort } from '../../support/closed-port.js';
import { endpoints } from '../../support/endpoints.js';
import { pgContext, type PgContext } from '../../support/pg-context.js';

// The executor against the real PostgreSQL: one transaction per request, deletes in the order the
// foreign keys accept, the request named in the WAL, neighbours untouched.

const HMAC_KEY = 'k'.repeat(32);
const env = { LETHE_HMAC_KEY_K1: HMAC_KEY };

interface Shop extends AsyncDisposable {
  db: PgContext;
  pool: pg.Pool;
  schema: string;
  /** Quoted table names for SQL. */
  users: string;
  orders: string;
  items: string;
  invoices: string;
  catalog(onRequest: string, extra?: string): Catalog;
  /** The 'lethe' logical messages committed since the shop was made, read through a test_decoding slot. */
  messages(): Promise<unknown[]>;
  count(table: string, user: string): Promise<number>;
}

/**
 * A quoted mixed-case schema: "Users" with a text key (so '4' and '42' are neighbours), "Orders"
 * and order_items in a NO ACTION chain root <- orders <- items, and invoices, whose foreign key
 * rule each test sets.
 */
async function shop(invoicesOnDelete = 'NO ACTION'): Promise<Shop> {
  const db = await pgContext();
  const schema = db.name('schema', 'Req');
  const q = quoteIdent(schema);
  const users = `${q}."Users"`;
  const orders = `${q}."Orders"`;
  const items = `${q}.order_items`;
  const invoices = `${q}.invoices`;
  await db.client.query(`CREATE SCHEMA ${q}`);
  await db.client.query(`CREATE TABLE ${users} ("UserId" text PRIMARY KEY, email text, name text NOT NULL, phone text, "ErasedAt" timestamptz)`);
  await db.client.query(`CREATE TABLE ${orders} (id bigint PRIMARY KEY, "UserId" text NOT NULL REFERENCES ${users} ("UserId"), address text)`);
  await db.client.query(`CREATE TABLE ${items} (id bigint PRIMARY KEY, order_id bigint NOT NULL REFERENCES ${orders} (id), "UserId" text NOT NULL)`);
  await db.client.query(`CREATE TABLE ${invoices} (id bigint PRIMARY KEY, "UserId" text NOT NULL REFERENCES ${users} ("UserId") ON DELETE ${invoicesOnDelete}, amount numeric)`);
  await db.client.query(`CREATE TABLE ${q}.side_effects (note text)`);
  for (const [user, base] of [['42', 420], ['4', 40]] as const) {
    await db.client.query(`INSERT INTO ${users} VALUES ($1, $2, $3, $4, NULL)`, [user, `user${user}@Seeded.Example`, `Name ${user}`, `+44 ${user}`]);
    await db.client.query(`INSERT INTO ${orders} VALUES ($1, $3, 'Street 1 ' || $3), ($2, $3, 'Street 2 ' || $3)`, [base + 1, base + 2, user]);
    await db.client.query(`INSERT INTO ${items} VALUES ($1, $2, $3), ($4, $5, $3)`, [base + 1, base + 1, user, base + 2, base + 2]);
    await db.client.query(`INSERT INTO ${invoices} VALUES ($1, $2, 10)`, [base, user]);
  }
  const slot = db.name('slot');
  await db.client.query("SELECT pg_create_logical_replication_slot($1, 'test_decoding')", [slot]);
  const pool = new pg.Pool({ connectionString: endpoints().databaseUrl, max: 2 });
  const table = (name: string) => `'"${schema}"."${name}"'`;
  return {
    db,
    pool,
    schema,
    users,
    orders,
    items,
    invoices,
    catalog(onRequest, extra = '') {
      return parseCatalog(
        `
source: { url: ${endpoints().databaseUrl} }
kafka: { brokers: 127.0.0.1:1, schemaRegistry: "http://127.0.0.1:1" }
subjects:
  user:
    table: ${table('Users')}
    key: '"UserId"'
    identities:
      email: { column: email, caseInsensitive: true }
      phone: { column: phone }
    erasedWhen:
      - delete
      - update: { column: '"ErasedAt"', becomes: not_null }
    onRequest:
${onRequest.replaceAll('$USERS', table('Users')).replaceAll('$ORDERS', table('Orders')).replaceAll('$ITEMS', `'"${schema}".order_items'`).replaceAll('$INVOICES', `'"${schema}".invoices'`).replace(/^/gm, '      ')}
pseudonymization: { hmacKey: k1 }
${extra}`,
        {},
      );
    },
    async messages() {
      // The stack commits with synchronous_commit off, and a slot decodes only flushed WAL: a
      // marker committed with it on flushes everything before it.
      await db.client.query('BEGIN');
      await db.client.query('SET LOCAL synchronous_commit = on');
      await db.client.query("SELECT pg_logical_emit_message(true, 'test-marker', 'flush')");
      await db.client.query('COMMIT');
      const { rows } = await db.client.query<{ data: string }>('SELECT data FROM pg_logical_slot_get_changes($1, NULL, NULL)', [slot]);
      expect(rows.some((r) => r.data.includes('prefix: test-marker,'))).toBe(true);
      return rows.filter((r) => r.data.startsWith('message: transactional: 1 prefix: lethe,')).map((r) => JSON.parse(r.data.slice(r.data.indexOf('content:') + 'content:'.length)));
    },
    async count(t, user) {
      const { rows } = await db.client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t} WHERE "UserId" = $1`, [user]);
      return rows[0]!.n;
    },
    async [Symbol.asyncDispose]() {
      await pool.end();
      await db[Symbol.asyncDispose]();
    },
  };
}

const deleteAll = `
- { table: $USERS, action: delete }
- { table: $INVOICES, subjectColumn: '"UserId"', action: delete }
- { table: $ORDERS, subjectColumn: '"UserId"', action: delete }
- { table: $ITEMS, subjectColumn: '"UserId"', action: delete }`;

describe('primary executor', () => {
  it('deletes along a NO ACTION chain in the order the foreign keys accept, names the request in the WAL, and leaves the neighbour', async () => {
    await using s = await shop();
    // The catalog lists the root first: that order would be refused.
    await expect(s.db.client.query(`DELETE FROM ${s.users} WHERE "UserId" = '42'`)).rejects.toMatchObject({ code: '23503' });
    const executor = new PrimaryExecutor({ catalog: s.catalog(deleteAll), pool: s.pool, env });

    const result = await executor.execute({ requestId: 'req_chain', subject: { type: 'user', key: { UserId: '42' } }, heldTables: [] });

    expect(result.tables.map((t) => [t.table.name, t.action, t.rows])).toEqual([
      ['invoices', 'delete', 1],
      ['order_items', 'delete', 2],
      ['Orders', 'delete', 2],
      ['Users', 'delete', 1],
    ]);
    for (const t of [s.users, s.orders, s.items, s.invoices]) {
      expect(await s.count(t, '42')).toBe(0);
      expect(await s.count(t, '4')).toBeGreaterThan(0);
    }
    expect(await s.messages()).toEqual([{ requestId: 'req_chain', subjects: [{ type: 'user', key: { UserId: '42' }, operation: 'DELETE' }] }]);
  });

  it('anonymizes with null, literal, hash and hmac, sets the root\'s erasedWhen column, keeps what is kept and held, and runs inTransaction inside', async () => {
    await using s = await shop();
    const catalog = s.catalog(`
- { table: $USERS, action: { anonymize: { email: hmac, name: { literal: "Deleted user" }, phone: hash } } }
- { table: $ORDERS, subjectColumn: '"UserId"', action: { anonymize: { address: null } } }
- { table: $ITEMS, subjectColumn: '"UserId"', action: delete }
- { table: $INVOICES, subjectColumn: '"UserId"', action: { keep: "tax law: invoices are kept 10 years" } }`);
    const executor = new PrimaryExecutor({ catalog, pool: s.pool, env });
    const ordersRef = { schema: s.schema, name: 'Orders' };

    const result = await executor.execute({
      requestId: 'req_anon',
      subject: { type: 'user', key: { UserId: '42' } },
      heldTables: [{ ...ordersRef, holdId: 'hold_orders' }],
      inTransaction: async (client) => {
        await client.query(`INSERT INTO ${quoteIdent(s.schema)}.side_effects VALUES ('propagating')`);
      },
    });

    expect(result.tables).toEqual([
      { table: { schema: s.schema, name: 'Users' }, action: 'anonymize', rows: 1 },
      { table: { schema: s.schema, name: 'order_items' }, action: 'delete', rows: 2 },
      { table: ordersRef, action: 'keep', rows: 2, holdId: 'hold_orders' },
      { table: { schema: s.schema, name: 'invoices' }, action: 'keep', rows: 1, keptReason: 'tax law: invoices are kept 10 years' },
    ]);
    const { rows } = await s.db.client.query(`SELECT "UserId", email, name, phone, "ErasedAt" IS NOT NULL AS erased FROM ${s.users} ORDER BY "UserId"`);
    expect(rows).toEqual([
      { UserId: '4', email: 'user4@Seeded.Example', name: 'Name 4', phone: '+44 4', erased: false },
      {
        UserId: '42',
        email: pseudonymOf('k1', Buffer.from(HMAC_KEY), 'user42@Seeded.Example'),
        name: 'Deleted user',
        phone: createHash('sha256').update('+44 42').digest('hex'),
        erased: true,
      },
    ]);
    // Held: the orders keep their addresses until the hold is released.
    expect((await s.db.client.query(`SELECT count(*)::int AS n FROM ${s.orders} WHERE address IS NOT NULL`)).rows[0].n).toBe(4);
    expect(await s.count(s.items, '4')).toBe(2);
    expect((await s.db.client.query(`SELECT note FROM ${quoteIdent(s.schema)}.side_effects`)).rows).toEqual([{ note: 'propagating' }]);
    expect(await s.messages()).toEqual([{ requestId: 'req_anon', subjects: [{ type: 'user', key: { UserId: '42' }, operation: 'ANONYMIZE' }] }]);

    // The hold is released: just that table is erased by its handler, with the same message.
    const released = await executor.eraseTables('req_anon', { type: 'user', key: { UserId: '42' } }, [ordersRef]);
    expect(released.tables).toEqual([{ table: ordersRef, action: 'anonymize', rows: 2 }]);
    const { rows: addresses } = await s.db.client.query(`SELECT "UserId", address FROM ${s.orders} ORDER BY id`);
    expect(addresses).toEqual([
      { UserId: '4', address: 'Street 1 4' },
      { UserId: '4', address: 'Street 2 4' },
      { UserId: '42', address: null },
      { UserId: '42', address: null },
    ]);
    expect(await s.messages()).toEqual([{ requestId: 'req_anon', subjects: [{ type: 'user', key: { UserId: '42' }, operation: 'ANONYMIZE' }] }]);
  });

  it('refuses, before any write, a kept table a cascade would delete, and a held table that would refuse the delete', async () => {
    await using s = await shop('CASCADE');
    const keptCascade = s.catalog(`
- { table: $USERS, action: delete }
- { table: $ORDERS, subjectColumn: '"UserId"', action: delete }
- { table: $ITEMS, subjectColumn: '"UserId"', action: delete }
- { table: $INVOICES, subjectColumn: '"UserId"', action: { keep: "tax law" } }`);
    const refused = new PrimaryExecutor({ catalog: keptCascade, pool: s.pool, env }).execute({ requestId: 'req_no', subject: { type: 'user', key: { UserId: '42' } }, heldTables: [] });
    await expect(refused).rejects.toBeInstanceOf(RequestRefusedError);
    const error = (await refused.catch((e: unknown) => e)) as RequestRefusedError;
    expect(error.message).toContain('subjects.user.onRequest[3]');
    expect(error.message).toContain(`"${s.schema}".invoices is kept`);
    expect(error.message).toContain(`invoices_UserId_fkey to "${s.schema}"."Users"`);
    expect(error.message).toContain('CASCADE');

    const held = new PrimaryExecutor({ catalog: s.catalog(deleteAll), pool: s.pool, env }).execute({
      requestId: 'req_held',
      subject: { type: 'user', key: { UserId: '42' } },
      heldTables: [{ schema: s.schema, name: 'Orders', holdId: 'hold_1' }],
    });
    await expect(held).rejects.toThrow(/"Orders" is under hold hold_1, but its foreign key Orders_UserId_fkey .* NO ACTION/);

    for (const t of [s.users, s.orders, s.items, s.invoices]) expect(await s.count(t, '42')).toBeGreaterThan(0);
    expect(await s.messages()).toEqual([]);
  });

  it('refuses a hold on a related table no handler names when the root delete would cascade into it', async () => {
    await using s = await shop('CASCADE');
    const catalog = s.catalog(`
- { table: $USERS, action: delete }
- { table: $ORDERS, subjectColumn: '"UserId"', action: delete }
- { table: $ITEMS, subjectColumn: '"UserId"', action: delete }`);
    catalog.subjects[0]!.related.push({ table: { schema: s.schema, name: 'invoices' }, subjectColumns: ['UserId'], path: 'subjects.user.related[0]' });
    const held = new PrimaryExecutor({ catalog, pool: s.pool, env }).execute({
      requestId: 'req_cascade',
      subject: { type: 'user', key: { UserId: '42' } },
      heldTables: [{ schema: s.schema, name: 'invoices', holdId: 'hold_inv' }],
    });
    await expect(held).rejects.toThrow(/invoices is under hold hold_inv, but its foreign key invoices_UserId_fkey .*CASCADE/);
    expect(await s.count(s.invoices, '42')).toBe(1);
    expect(await s.count(s.users, '42')).toBe(1);
    // Without the hold the cascade is the application's own design: the invoices go with the user.
    await new PrimaryExecutor({ catalog, pool: s.pool, env }).execute({ requestId: 'req_free', subject: { type: 'user', key: { UserId: '42' } }, heldTables: [] });
    expect(await s.count(s.invoices, '42')).toBe(0);
    expect(await s.count(s.invoices, '4')).toBe(1);
  });

  it('rolls everything back when inTransaction fails', async () => {
    await using s = await shop();
    const executor = new PrimaryExecutor({ catalog: s.catalog(deleteAll), pool: s.pool, env });
    const failing = executor.execute({
      requestId: 'req_cas',
      subject: { type: 'user', key: { UserId: '42' } },
      heldTables: [],
      inTransaction: async () => {
        throw new RecordError('REQUEST_STATE', 'the request was canceled meanwhile');
      },
    });
    await expect(failing).rejects.toThrow('the request was canceled meanwhile');
    for (const t of [s.users, s.orders, s.items, s.invoices]) expect(await s.count(t, '42')).toBeGreaterThan(0);
    expect(await s.messages()).toEqual([]);
  });

  it('turns a constraint the subject\'s rows break into a RecordError naming table and column, never a value', async () => {
    await using s = await shop();
    const executor = new PrimaryExecutor({ catalog: s.catalog('- { table: $USERS, action: { anonymize: { name: null } } }'), pool: s.pool, env });
    const failed = await executor.execute({ requestId: 'req_nn', subject: { type: 'user', key: { UserId: '42' } }, heldTables: [] }).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(RecordError);
    expect(failed).toMatchObject({ code: 'PRIMARY_CONSTRAINT' });
    expect((failed as Error).message).toContain('Users');
    expect((failed as Error).message).toContain('column name');
    expect((failed as Error).message).toContain('23502');
    expect((failed as Error).message).not.toContain('Seeded');
    expect(await s.messages()).toEqual([]);
  });

  it('refuses a key not in PostgreSQL\'s text form, so 042 never erases 42, and waits on a database it cannot reach', async () => {
    await using db = await pgContext();
    const schema = db.name('schema');
    await db.client.query(`CREATE SCHEMA ${schema}`);
    await db.client.query(`CREATE TABLE ${schema}.accounts (id bigint PRIMARY KEY)`);
    await db.client.query(`CREATE TABLE ${schema}.events (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES ${schema}.accounts)`);
    await db.client.query(`INSERT INTO ${schema}.accounts VALUES (4), (42); INSERT INTO ${schema}.events VALUES (1, 4), (2, 42), (3, 42)`);
    const catalog = parseCatalog(
      `
source: { url: x }
kafka: { brokers: 127.0.0.1:1, schemaRegistry: "http://127.0.0.1:1" }
subjects:
  account:
    table: ${schema}.accounts
    key: id
    onRequest:
      - { table: ${schema}.accounts, action: delete }
      - { table: ${schema}.events, subjectColumn: account_id, action: delete }
`,
      {},
    );
    const pool = new pg.Pool({ connectionString: endpoints().databaseUrl, max: 1 });
    try {
      const executor = new PrimaryExecutor({ catalog, pool });
      await expect(executor.execute({ requestId: 'req_k', subject: { type: 'account', key: { id: '042' } }, heldTables: [] })).rejects.toMatchObject({ code: 'REQUEST_SUBJECT_KEY' });
      await expect(executor.execute({ requestId: 'req_k', subject: { type: 'account', key: { id: 'abc' } }, heldTables: [] })).rejects.toMatchObject({ code: 'PRIMARY_DATA' });
      const result = await executor.execute({ requestId: 'req_k', subject: { type: 'account', key: { id: '42' } }, heldTables: [] });
      expect(result.tables.map((t) => [t.table.name, t.rows])).toEqual([['events', 2], ['accounts', 1]]);
      const { rows } = await db.client.query(`SELECT (SELECT array_agg(id ORDER BY id)::text FROM ${schema}.accounts) AS accounts, (SELECT array_agg(id ORDER BY id)::text FROM ${schema}.events) AS events`);
      expect(rows).toEqual([{ accounts: '{4}', events: '{1}' }]);
    } finally {
      await pool.end();
    }

    const away = new pg.Pool({ connectionString: `postgres://postgres@127.0.0.1:${await closedPort()}/lethe`, connectionTimeoutMillis: 2_000 });
    away.on('error', () => undefined);
    try {
      const failed = await new PrimaryExecutor({ catalog, pool: away }).execute({ requestId: 'req_away', subject: { type: 'account', key: { id: '4' } }, heldTables: [] }).catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(ServiceUnavailableError);
      expect(failed).toMatchObject({ service: 'postgres', retriable: true });
    } finally {
      await away.end();
    }
  });
});

describe('identity resolution', () => {
  it('finds the subject by an exact or case-insensitive identity, returns null for none, and refuses two without quoting the value', async () => {
    await using s = await shop();
    const catalog = s.catalog('- { table: $USERS, action: delete }');
    expect(await resolveIdentity(catalog, s.pool, 'user', 'email', 'USER42@seeded.example')).toEqual({ UserId: '42' });
    expect(await resolveIdentity(catalog, s.pool, 'user', 'phone', '+44 4')).toEqual({ UserId: '4' });
    expect(await resolveIdentity(catalog, s.pool, 'user', 'phone', '+44 42 ')).toBeNull();
    expect(await resolveIdentity(catalog, s.pool, 'user', 'email', 'nobody@seeded.example')).toBeNull();

    await s.db.client.query(`INSERT INTO ${s.users} VALUES ('43', 'User42@seeded.example', 'Twin', NULL, NULL)`);
    const ambiguous = await resolveIdentity(catalog, s.pool, 'user', 'email', 'user42@seeded.example').catch((e: unknown) => e);
    expect(ambiguous).toBeInstanceOf(RecordError);
    expect((ambiguous as Error).message).toMatch(/identity email names more than one user/);
    expect((ambiguous as Error).message).not.toMatch(/seeded/i);
    await expect(resolveIdentity(catalog, s.pool, 'user', 'login', 'x')).rejects.toThrow(/no identity login \(known: email, phone\)/);
  });
});

describe('doctor on request handlers', () => {
  it('reads the tables and foreign keys from the database and reports the kept table\'s conflict at its path', async () => {
    await using s = await shop('CASCADE');
    const catalog = s.catalog(`
- { table: $USERS, action: delete }
- { table: $ORDERS, subjectColumn: '"UserId"', action: { anonymize: { address: null, '"Missing"': null } } }
- { table: $ITEMS, subjectColumn: '"UserId"', action: delete }
- { table: $INVOICES, subjectColumn: '"UserId"', action: { keep: "tax law" } }`);
    const findings = await checkRequestHandlers(s.db.client, catalog);
    expect(findings.map((f) => [f.level, f.subject])).toEqual([
      ['problem', 'subjects.user.onRequest[1].action.anonymize.Missing'],
      ['problem', 'subjects.user.onRequest[1]'],
      ['problem', 'subjects.user.onRequest[3]'],
    ]);
    expect(findings[2]!.message).toContain('invoices_UserId_fkey');
    expect(findings[2]!.message).toContain('CASCADE');
  });
});
