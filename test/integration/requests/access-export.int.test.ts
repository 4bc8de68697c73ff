import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { parseCatalog, type Catalog } from '../../../src/catalog/catalog.js';
import { quoteIdent } from '../../../src/catalog/identifiers.js';
import { createKafka } from '../../../src/kafka/kafka-client.js';
import { topologyOf } from '../../../src/kafka/topology.js';
import { buildAccessExport, MAX_EXPORT_ROWS } from '../../../src/requests/access-export.js';
import { accessExportSweep } from '../../../src/requests/access-exports.js';
import { ManualClock } from '../../../src/requests/clock.js';
import { openExport } from '../../../src/requests/export-crypto.js';
import { RequestExecution } from '../../../src/requests/request-execution.js';
import { RequestMail } from '../../../src/requests/request-mail.js';
import { requestPorts } from '../../../src/requests/request-ports.js';
import { RequestReports } from '../../../src/requests/request-report.js';
import { RequestSecrets } from '../../../src/requests/request-secrets.js';
import { RequestService } from '../../../src/requests/request-service.js';
import { RequestStore } from '../../../src/requests/request-store.js';
import { RequestWorker } from '../../../src/requests/request-worker.js';
import { createToken } from '../../../src/tracker/api-tokens.js';
import { expectedTargetsOf } from '../../../src/tracker/erasure-status.js';
import { startHttpApi } from '../../../src/tracker/http-api.js';
import { SinkWaits } from '../../../src/tracker/sink-waits.js';
import { StatusStore } from '../../../src/tracker/status-store.js';
import { TrackerMetrics } from '../../../src/tracker/tracker-metrics.js';
import { closedPort } from '../../support/closed-port.js';
import { endpoints } from '../../support/endpoints.js';
import { capturingLogger } from '../../support/log-capture.js';
import { mailpit, uniqueRecipient } from '../../support/mailpit.js';
import { pgContext, type PgContext } from '../../support/pg-context.js';

// Access requests against the real PostgreSQL and Mailpit: the subject's rows (and only theirs)
// read from a quoted mixed-case schema, sealed in the request store, downloaded through the
// mailed link and the operator API, refused once expired, and deleted after retention.

const DAY = 86_400_000;
const BIG = '9007199254740993'; // beyond 2^53: kept exact as text

interface Shop extends AsyncDisposable {
  db: PgContext;
  schema: string;
  tracker: string;
  recipient: string;
  catalog: Catalog;
}

async function shop(operatorSha: string): Promise<Shop> {
  const db = await pgContext();
  try {
    return await fill(db, operatorSha);
  } catch (error) {
    await db[Symbol.asyncDispose]();
    throw error;
  }
}

async function fill(db: PgContext, operatorSha: string): Promise<Shop> {
  const schema = db.name('schema', 'Acc');
  const tracker = db.name('schema', 'lethe_acc');
  const q = quoteIdent(schema);
  const recipient = uniqueRecipient('access');
  await db.client.query(`CREATE SCHEMA ${q}`);
  await db.client.query(`CREATE TABLE ${q}."Users" ("UserId" text PRIMARY KEY, email text, "Name" text, balance numeric, big bigint, seen timestamptz)`);
  await db.client.query(`CREATE TABLE ${q}."Orders" (id bigint PRIMARY KEY, "UserId" text NOT NULL REFERENCES ${q}."Users" ("UserId"), address text)`);
  await db.client.query(`CREATE TABLE ${q}.messages (sender text NOT NULL, body text)`);
  await db.client.query(`CREATE TABLE ${q}.invoices (id bigint PRIMARY KEY, "UserId" text NOT NULL, amount numeric)`);
  await db.client.query(`CREATE TABLE ${q}."Accounts" (id bigint PRIMARY KEY, owner text)`);
  for (const [user, base, email] of [['42', 420, recipient], ['4', 40, 'four@example.test']] as const) {
    await db.client.query(`INSERT INTO ${q}."Users" VALUES ($1, $2, $3, 10.50, $4, '2026-03-01 12:00:00+00')`, [user, email, `Name ${user}`, BIG]);
    await db.client.query(`INSERT INTO ${q}."Orders" VALUES ($1, $3, 'Street 1 ' || $3), ($2, $3, 'Street 2 ' || $3)`, [base + 1, base + 2, user]);
    await db.client.query(`INSERT INTO ${q}.messages VALUES ($1, 'hello from ' || $1)`, [user]);
    await db.client.query(`INSERT INTO ${q}.invoices VALUES ($1, $2, 99.90)`, [base, user]);
  }
  await db.client.query(`INSERT INTO ${q}."Accounts" VALUES (42, 'forty-two'), (420, 'four-twenty')`);
  const t = (name: string) => `'"${schema}"."${name}"'`;
  const e = endpoints();
  const catalog = parseCatalog(
    `
source: { url: "${e.databaseUrl}" }
kafka: { brokers: 127.0.0.1:1, schemaRegistry: "http://127.0.0.1:1" }
subjects:
  user:
    table: ${t('Users')}
    key: '"UserId"'
    identities: { email: { column: email, caseInsensitive: true } }
    erasedWhen: [delete]
    related:
      - { table: ${t('Orders')}, subjectColumn: '"UserId"' }
      - { table: '"${schema}".messages', subjectColumn: sender }
    onRequest:
      - { table: ${t('Users')}, action: delete }
      - { table: ${t('Orders')}, subjectColumn: '"UserId"', action: delete }
      - { table: '"${schema}".invoices', subjectColumn: '"UserId"', action: { keep: "tax law" } }
  account:
    table: ${t('Accounts')}
    key: id
    erasedWhen: [delete]
requests:
  publicUrl: http://127.0.0.1:8720
  mail: { smtp: "${e.smtpUrl}", from: "Shop privacy <privacy@shop.example>" }
  intakeRateLimit: { max: 100, timeWindow: 1m }
tracker:
  schema: ${tracker}
  tokens: [{ name: ops, role: operator, sha256: ${operatorSha} }]
`,
    {},
  );
  return {
    db,
    schema,
    tracker,
    recipient,
    catalog,
    async [Symbol.asyncDispose]() {
      await mailpit().deleteTo(recipient);
      await db[Symbol.asyncDispose]();
    },
  };
}

/** The lifecycle in process as openRequests wires it (no Kafka: the hold redelivery step is left out), and the HTTP API. */
async function system(catalog: Catalog, clock: ManualClock) {
  const { logger, lines } = capturingLogger();
  const secrets = new RequestSecrets(randomBytes(32));
  const pool = new pg.Pool({ connectionString: catalog.tracker.database, max: 4 });
  const statuses = new StatusStore(catalog.tracker.database, catalog.tracker.schema, (type) => expectedTargetsOf(catalog, type), catalog.tracker.slaMs);
  const store = new RequestStore(pool, catalog.tracker.schema);
  await store.ensureSchema();
  const ports = requestPorts(catalog, pool, logger);
  const service = new RequestService(catalog, store, clock, secrets, ports.resolveIdentity, logger);
  const execution = new RequestExecution(service, statuses, ports.execution, logger);
  const worker = new RequestWorker({ service, execution, mail: new RequestMail(service, ports.mail, logger), extra: [accessExportSweep(service, logger)], logger });
  const source = new pg.Pool({ connectionString: catalog.source.url, max: 1 });
  const admin = createKafka({ brokers: catalog.kafka.brokers, clientId: 'access-test', logger }).admin();
  // Never started: the metrics ask neither Kafka nor the pool.
  const metrics = new TrackerMetrics({ catalog, store: statuses, admin, source, logger, topology: topologyOf(catalog), waits: new SinkWaits() });
  const api = await startHttpApi({
    catalog,
    store: statuses,
    metrics,
    waits: new SinkWaits(),
    changes: new EventEmitter(),
    publishPending: async () => {},
    logger,
    listen: { host: '127.0.0.1', port: 0 },
    requests: { service, reports: new RequestReports(service, statuses) },
  });
  return {
    service,
    store,
    secrets,
    worker,
    api,
    lines,
    async [Symbol.asyncDispose]() {
      await api.close();
      await ports.close();
      await statuses.close();
      await source.end();
      await pool.end();
    },
  };
}

type Export = { requestId: string; subject: string; generatedAt: string; tables: Array<{ table: string; rows: Array<Record<string, string | null>> }> };

describe('access requests', () => {
  it('export the subject rows only, sealed at rest, by the mailed link and the operator API until expiry, then deleted', async () => {
    const operator = createToken('ops', 'operator');
    await using s = await shop(operator.entry.sha256);
    const clock = new ManualClock(Date.now());
    await using sys = await system(s.catalog, clock);
    const asOperator = { authorization: `Bearer ${operator.token}` };

    // An operator names the subject; a person's request comes by email, vouched for by the operator.
    const { request: named } = await sys.service.create({ type: 'access', subject: { type: 'user', id: '42' }, source: 'api', actor: 'token:ops' });
    const { request: mailed } = await sys.service.create({ type: 'access', identity: { kind: 'email', value: s.recipient.toUpperCase() }, source: 'api', actor: 'token:ops', verified: true });
    expect([named.state, mailed.state]).toEqual(['executing', 'executing']);
    await sys.worker.tick();
    for (const id of [named.id, mailed.id]) {
      const { request, transitions } = await sys.service.show(id);
      expect(request.state).toBe('complete');
      expect(transitions.at(-1)).toMatchObject({ from: 'executing', to: 'complete', actor: 'system', reason: expect.stringMatching(/^exported 5 row\(s\) from 4 table\(s\); kept until /) });
    }

    // The operator's copy: every table once, every column as PostgreSQL prints it, no neighbour.
    const response = await fetch(`${sys.api.url}/api/requests/${named.id}/export`, { headers: asOperator });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-disposition')).toBe(`attachment; filename="${named.id}-personal-data.json"`);
    const copy = (await response.json()) as Export;
    expect(copy).toMatchObject({ requestId: named.id, subject: 'user:42', generatedAt: new Date(clock.now()).toISOString() });
    const seen = (await s.db.client.query<{ t: string }>(`SELECT seen::text AS t FROM ${quoteIdent(s.schema)}."Users" WHERE "UserId" = '42'`)).rows[0]!.t;
    expect(copy.tables).toEqual([
      { table: `"${s.schema}"."Users"`, rows: [{ UserId: '42', email: s.recipient, Name: 'Name 42', balance: '10.50', big: BIG, seen }] },
      { table: `"${s.schema}"."Orders"`, rows: [{ id: '421', UserId: '42', address: 'Street 1 42' }, { id: '422', UserId: '42', address: 'Street 2 42' }] },
      { table: `"${s.schema}".messages`, rows: [{ sender: '42', body: 'hello from 42' }] },
      { table: `"${s.schema}".invoices`, rows: [{ id: '420', UserId: '42', amount: '99.90' }] },
    ]);
    expect(await fetch(`${sys.api.url}/api/requests/${named.id}/export`).then((r) => r.status)).toBe(401);

    // At rest: sealed, nothing of the rows in clear, and it opens under the secret's key to the same copy.
    const stored = await s.db.client.query<{ content: Buffer; expires_at: Date; downloaded_at: Date | null }>(`SELECT content, expires_at, downloaded_at FROM ${quoteIdent(s.tracker)}.request_exports WHERE request_id = $1`, [named.id]);
    const sealed = stored.rows[0]!.content;
    for (const value of [s.recipient, 'Street 1 42', 'hello from 42', BIG, 'Name 42']) expect(sealed.includes(Buffer.from(value)), value).toBe(false);
    expect(JSON.parse(openExport(sys.secrets.exportKey(), named.id, sealed).toString('utf8'))).toEqual(copy);
    expect(stored.rows[0]!.expires_at.getTime()).toBe(clock.now() + 30 * DAY);
    expect(stored.rows[0]!.downloaded_at).toBeNull();

    // The person's mail carries the link (and nothing of their rows); its page posts the token.
    const message = await mailpit().waitForMessage(s.recipient, (m) => m.subject === 'Your privacy request is complete');
    const text = await mailpit().textOf(message.id);
    expect(text).toContain(`until ${new Date(clock.now() + 30 * DAY).toISOString().slice(0, 10)} (UTC)`);
    for (const value of ['Street 1 42', 'hello from 42', BIG, 'Name 42']) expect(text).not.toContain(value);
    const link = new URL(/https?:\/\/\S+\/export\?token=\S+/.exec(text)![0]);
    expect(link.pathname).toBe(`/public/requests/${mailed.id}/export`);
    const page = await fetch(`${sys.api.url}${link.pathname}${link.search}`).then((r) => r.text());
    const token = /name="token" value="([^"]+)"/.exec(page)![1]!;
    expect(token).toBe(link.searchParams.get('token'));
    const download = (t: string, id = mailed.id) =>
      fetch(`${sys.api.url}/public/requests/${id}/export`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: t }).toString() });
    for (let i = 0; i < 2; i++) {
      const got = await download(token);
      expect(got.status).toBe(200);
      expect(got.headers.get('content-disposition')).toMatch(/^attachment; /);
      expect(((await got.json()) as Export).tables[0]!.rows).toEqual([expect.objectContaining({ UserId: '42', email: s.recipient })]);
    }
    const downloadedAt = await s.db.client.query<{ d: Date }>(`SELECT downloaded_at AS d FROM ${quoteIdent(s.tracker)}.request_exports WHERE request_id = $1`, [mailed.id]);
    expect(downloadedAt.rows[0]!.d.getTime()).toBe(clock.now());
    expect((await sys.service.show(mailed.id)).transitions.filter((t) => t.actor === 'subject').map((t) => t.reason)).toEqual([
      'the access export was downloaded with the link from the mail',
      'the access export was downloaded with the link from the mail',
    ]);
    // Another request's link, another purpose's, or a forged one: 403.
    expect((await download(token, named.id)).status).toBe(403);
    expect((await download(await sys.secrets.linkToken(mailed.id, 'cancel', clock.now() + DAY))).status).toBe(403);
    expect((await download(await new RequestSecrets(randomBytes(32)).linkToken(mailed.id, 'export', clock.now() + DAY))).status).toBe(403);

    // Past expiry the link is refused, the operator finds no copy, and the sweep deletes both.
    clock.advance(30 * DAY + 1_000);
    expect((await download(token)).status).toBe(403);
    expect((await download(await sys.secrets.linkToken(mailed.id, 'export', clock.now() + DAY))).status).toBe(403);
    expect(await fetch(`${sys.api.url}/api/requests/${named.id}/export`, { headers: asOperator }).then((r) => r.status)).toBe(404);
    await sys.worker.tick();
    const left = await s.db.client.query(`SELECT 1 FROM ${quoteIdent(s.tracker)}.request_exports WHERE request_id = ANY($1)`, [[named.id, mailed.id]]);
    expect(left.rowCount).toBe(0);
    for (const id of [named.id, mailed.id]) {
      const { request, transitions } = await sys.service.show(id);
      expect(request.state).toBe('complete');
      expect(transitions.at(-1)).toMatchObject({ from: 'complete', to: 'complete', actor: 'system', reason: 'the access export expired and was deleted' });
    }
    // The neighbour's rows are untouched, nothing was erased, and no log line carries a row's value.
    expect((await s.db.client.query(`SELECT count(*)::int AS n FROM ${quoteIdent(s.schema)}."Users"`)).rows[0]).toEqual({ n: 2 });
    for (const value of [s.recipient, 'Street 1 42', 'hello from 42', BIG]) expect(sys.lines.join('\n')).not.toContain(value);
  });

  it('matches keys exactly, refuses a key not in text form and a table over the bound, and waits for a database that is down', async () => {
    await using s = await shop(createToken('ops', 'operator').entry.sha256);
    const pool = new pg.Pool({ connectionString: endpoints().databaseUrl, max: 1 });
    await using _pool = { [Symbol.asyncDispose]: () => pool.end() };
    const build = (type: string, key: Record<string, string>, on = pool) => buildAccessExport({ catalog: s.catalog, pool: on, requestId: 'req_exact', subject: { type, key }, now: Date.now() });

    // '4' is not '42': only the subject's rows.
    const four = await build('user', { UserId: '4' });
    expect(four.tables.map((t) => t.rows.length)).toEqual([1, 2, 1, 1]);
    expect(JSON.stringify(four)).not.toContain('Street 1 42');
    // A bigint key: 42 is not 420, and 042 (not how PostgreSQL prints 42) is refused, not matched.
    expect((await build('account', { id: '42' })).tables).toEqual([{ table: `"${s.schema}"."Accounts"`, rows: [{ id: '42', owner: 'forty-two' }] }]);
    await expect(build('account', { id: '042' })).rejects.toMatchObject({ code: 'REQUEST_SUBJECT_KEY' });

    await s.db.client.query(`INSERT INTO ${quoteIdent(s.schema)}.messages SELECT '4', 'bulk' FROM generate_series(1, ${MAX_EXPORT_ROWS})`);
    await expect(build('user', { UserId: '4' })).rejects.toMatchObject({ code: 'ACCESS_EXPORT_TOO_LARGE', message: expect.stringContaining(`"${s.schema}".messages holds more than ${MAX_EXPORT_ROWS} rows`) });
    expect((await build('user', { UserId: '42' })).tables[2]!.rows).toHaveLength(1);

    const down = new pg.Pool({ connectionString: `postgres://postgres@127.0.0.1:${await closedPort()}/lethe`, max: 1, connectionTimeoutMillis: 2_000 });
    await using _down = { [Symbol.asyncDispose]: () => down.end() };
    await expect(build('user', { UserId: '42' }, down)).rejects.toMatchObject({ service: 'postgres', retriable: true });
  });
});
