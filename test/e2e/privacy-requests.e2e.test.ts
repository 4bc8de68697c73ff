import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { readTopic } from '../../src/kafka/topic-reader.js';
import { createToken } from '../../src/tracker/api-tokens.js';
import { startCli, type CliProcess } from '../support/cli-process.js';
import { closedPort } from '../support/closed-port.js';
import { e2eStores } from '../support/e2e-stores.js';
import { endpoints } from '../support/endpoints.js';
import { mailpit, uniqueRecipient } from '../support/mailpit.js';
import { waitFor } from '../support/wait-for.js';
import { createTopicsWithLeaders } from '../support/kafka-context.js';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '../../bin/lethe.js');
const DAY = 86_400_000;

interface RequestView {
  id: string;
  state: string;
  subject: string | null;
  exceptions: Array<{ kind: string; table?: string; scope?: string; reason?: string; basis?: string }>;
}

// A privacy request from a person's email to its proof, as people drive it: the public intake,
// the code read from the real mail server, the grace period moved by the injected clock (a
// restart of `lethe run` in the middle of it), execution in the primary (the root anonymized, one
// table deleted, one kept with a reason, one under a legal hold), the CDC path and every sink, the
// proof. Beside it: a request canceled in its grace period, one never verified, one for an
// address that is no customer, and duplicate idempotency keys.
describe('privacy requests, end to end', () => {
  it('carries an erasure request from intake by email to a proof naming what was kept and why', { timeout: 240_000 }, async () => {
    const e = endpoints();
    await using stores = await e2eStores({ name: 'req', schema: 'Req' });
    const { id, prefix: p, schemaSql: q, dataset, db, redis, es, bq, kafka, admin } = stores;
    const topic = `${p}.members`;
    const port = await closedPort();
    const base = `http://127.0.0.1:${port}`;
    const mail = mailpit();
    const operator = createToken('ops-e2e', 'operator');
    const dir = await mkdtemp(join(tmpdir(), 'lethe-requests-'));
    const config = join(dir, 'lethe.config.yaml');
    const clock = join(dir, 'clock-offset');
    const env = { LETHE_API_TOKENS: `ops-e2e:operator:${operator.entry.sha256}`, LETHE_CLOCK_FILE: clock, LETHE_REQUEST_SECRET: randomBytes(32).toString('hex') };
    const addresses = { ada: uniqueRecipient('ada'), bob: uniqueRecipient('bob'), cleo: uniqueRecipient('cleo'), nobody: uniqueRecipient('nobody') };
    await using _cleanup = {
      [Symbol.asyncDispose]: async () => {
        for (const a of Object.values(addresses)) await mail.deleteTo(a).catch(() => undefined);
        await rm(dir, { recursive: true, force: true });
      },
    };

    // Members 42 (Ada), 4 (Bob), 421 (Cleo): ids that are each other's prefixes.
    const members = [
      { id: '42', email: addresses.ada },
      { id: '4', email: addresses.bob },
      { id: '421', email: addresses.cleo },
    ];
    await db.client.query(`CREATE SCHEMA ${q}`);
    await db.client.query(`CREATE TABLE ${q}."Members" (id bigint PRIMARY KEY, email text, name text, erased_at timestamptz)`);
    await db.client.query(`CREATE TABLE ${q}.messages (id serial PRIMARY KEY, member_id bigint NOT NULL REFERENCES ${q}."Members" (id), body text)`);
    await db.client.query(`ALTER TABLE ${q}.messages REPLICA IDENTITY FULL`);
    await db.client.query(`CREATE TABLE ${q}.invoices (id serial PRIMARY KEY, member_id bigint NOT NULL REFERENCES ${q}."Members" (id), amount numeric)`);
    await db.client.query(`CREATE TABLE ${q}.orders (id serial PRIMARY KEY, member_id bigint NOT NULL REFERENCES ${q}."Members" (id), address text)`);
    for (const m of members) {
      await db.client.query(`INSERT INTO ${q}."Members" (id, email, name) VALUES ($1, $2, 'Someone')`, [m.id, m.email]);
      for (const table of ['messages', 'invoices', 'orders']) {
        const column = { messages: 'body', invoices: 'amount', orders: 'address' }[table]!;
        await db.client.query(`INSERT INTO ${q}.${table} (member_id, ${column}) VALUES ($1, $2), ($1, $2)`, [m.id, table === 'invoices' ? '10' : 'text']);
      }
    }

    // The downstream copies, one per sink, for every member.
    await createTopicsWithLeaders(admin, { topics: [{ topic, numPartitions: 2, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }] });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: members.map((m) => ({ key: m.id, value: 'profile' })) });
    await producer.disconnect();
    for (const m of members) await redis.set(`${p}:member:${m.id}`, 'profile');
    await es.bulk({ refresh: true, operations: members.flatMap((m) => [{ index: { _index: `${p}-members`, _id: m.id } }, { member_id: Number(m.id) }]) });
    await bq.createDataset(dataset);
    await bq.query({ query: `CREATE TABLE \`${e.bigqueryProjectId}.${dataset}.visits\` (member_id INT64, page STRING)` });
    await bq.query({ query: `INSERT INTO \`${e.bigqueryProjectId}.${dataset}.visits\` (member_id, page) VALUES ${members.map((m) => `(${Number(m.id)}, 'home')`).join(', ')}` });

    const yaml = `${stores.catalogHead}subjects:
  member:
    table: '${q}."Members"'
    key: id
    identities: { email: { column: email, caseInsensitive: true } }
    erasedWhen: [delete, { update: { column: erased_at, becomes: not_null } }]
    related:
      - { table: '${q}.messages', subjectColumn: member_id }
    onRequest:
      - { table: '${q}."Members"', action: { anonymize: { email: null, name: { literal: "Erased member" } } } }
      - { table: '${q}.messages', subjectColumn: member_id, action: delete }
      - { table: '${q}.invoices', subjectColumn: member_id, action: { keep: "tax law: invoices are kept 10 years" } }
      - { table: '${q}.orders', subjectColumn: member_id, action: delete }
sinks:
  settings: { retryInitialMs: 20, retryMaxMs: 500 }
  redis: { url: ${e.redisUrl}, member: { keys: ["${p}:member:{subject}"] } }
  elasticsearch: { node: ${e.elasticsearchUrl}, member: [{ index: "${p}-members", match: member_id, action: delete }] }
  bigquery:
    projectId: ${e.bigqueryProjectId}
    apiEndpoint: ${e.bigqueryApiEndpoint}
    batch: { maxSubjects: 100, maxWaitMs: 200 }
    member: [{ table: ${dataset}.visits, match: member_id, action: delete }]
  compacted: { member: [{ topic: ${topic}, key: "{subject}" }] }
requests:
  publicUrl: ${base}
  mail: { smtp: "${e.smtpUrl}", from: "Privacy <privacy@shop.example>" }
  tickMs: 200
tracker: { schema: ${id}_tracker, host: 127.0.0.1, port: ${port}, overdueCheckMs: 500 }
`;
    await writeFile(config, yaml);
    const cli = async (...args: string[]) => {
      try {
        return (await run(process.execPath, [CLI, '-c', config, ...args], { env: { ...process.env, ...env } })).stdout;
      } catch (error) {
        const { stdout, stderr } = error as { stdout: string; stderr: string };
        throw new Error(`lethe ${args.join(' ')} failed:\n${stdout}\n${stderr}`);
      }
    };
    const show = async (requestId: string) => JSON.parse(await cli('request', 'show', requestId, '--json')) as RequestView;
    const api = async (method: string, path: string, body?: unknown, token?: string) => {
      const response = await fetch(`${base}${path}`, {
        method,
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    await cli('init');
    let lethe: CliProcess = startCli(yaml, ['run'], env);
    await using _lethe = { [Symbol.asyncDispose]: async () => lethe[Symbol.asyncDispose]() };
    const listening = (what: string) =>
      waitFor(async () => (await fetch(`${base}/healthz`)).ok, { timeoutMs: 60_000, what }).catch((error: unknown) => {
        throw new Error(`${(error as Error).message}\n${lethe.tail(3000)}`);
      });
    await listening('the tracker to listen');

    // A legal hold on Ada's orders, placed before anything happens.
    const placed = await cli('hold', 'place', '--subject', 'member:42', '--scope', `table:${q}.orders`, '--basis', 'litigation hold, case 2026-117', '--review', '2027-06-30', '--json');
    const hold = JSON.parse(placed) as { id: string };

    // Intake: the public endpoint answers alike for a customer and a stranger.
    const ada = await api('POST', '/public/requests', { type: 'erasure', email: addresses.ada.toUpperCase() });
    const cleo = await api('POST', '/public/requests', { type: 'erasure', email: addresses.cleo });
    const nobody = await api('POST', '/public/requests', { type: 'erasure', email: addresses.nobody });
    for (const r of [ada, cleo, nobody]) {
      expect(r.status).toBe(202);
      expect(r.body.state).toBe('identity_unverified');
      expect(r.body.message).toBe(ada.body.message);
      expect(JSON.stringify(r.body)).not.toMatch(/@/);
    }
    const adaId = ada.body.id as string;

    // A duplicate idempotency key returns the first request, through the API and the CLI.
    const first = await api('POST', '/api/requests', { type: 'erasure', subject: 'member:4', idempotencyKey: `${id}-bob` }, operator.token);
    const again = await api('POST', '/api/requests', { type: 'erasure', subject: 'member:4', idempotencyKey: `${id}-bob` }, operator.token);
    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    expect(await cli('request', 'create', '--type', 'erasure', '--subject', 'member:4', '--idempotency-key', `${id}-bob`)).toContain(first.body.id as string);
    expect((await api('POST', '/api/requests', { type: 'erasure', subject: 'member:4' })).status).toBe(401);
    // A key not as the database prints it would never match an event: refused, for a request and a hold.
    const leadingZero = await api('POST', '/api/requests', { type: 'erasure', subject: 'member:042' }, operator.token);
    expect(leadingZero.status).toBe(400);
    expect(JSON.stringify(leadingZero.body)).toContain("not in PostgreSQL's text form");
    await expect(cli('hold', 'place', '--subject', 'member:042', '--scope', 'all', '--basis', 'x', '--review', '2027-06-30')).rejects.toThrow(/--subject member:042: .*text form/);
    const bobId = first.body.id as string;
    expect((await show(bobId)).state).toBe('waiting');

    // Verification: the code from the real mail server.
    const code = await waitFor(async () => {
      const [message] = await mail.messagesTo(addresses.ada);
      return message && /\b(\d{6})\b/.exec(await mail.textOf(message.id))?.[1];
    }, { timeoutMs: 30_000, what: 'the verification mail' });
    expect((await api('POST', `/public/requests/${adaId}/verify`, { code: code === '000000' ? '111111' : '000000' })).status).toBe(400);
    const verified = await api('POST', `/public/requests/${adaId}/verify`, { code });
    expect(verified.status).toBe(200);
    expect(verified.body.state).toBe('waiting');
    const nobodyCode = await waitFor(async () => {
      const [message] = await mail.messagesTo(addresses.nobody);
      return message && /\b(\d{6})\b/.exec(await mail.textOf(message.id))?.[1];
    }, { timeoutMs: 30_000, what: "the stranger's verification mail" });
    const stranger = await api('POST', `/public/requests/${nobody.body.id as string}/verify`, { code: nobodyCode });
    expect(stranger.body.state).toBe('denied');

    // The receipt carries the cancel link; Bob's request is canceled in its grace period.
    await waitFor(async () => (await mail.messagesTo(addresses.ada)).some((m) => m.subject.includes('confirmed')), { timeoutMs: 30_000, what: 'the receipt' });
    const receipt = (await mail.messagesTo(addresses.ada)).find((m) => m.subject.includes('confirmed'))!;
    const receiptText = await mail.textOf(receipt.id);
    expect(receiptText).toContain(`${base}/public/requests/${adaId}/cancel?token=`);
    // Export before erasure: the receipt's link gives Ada a copy of her rows while they still exist.
    const exportToken = new URL(/(http:\/\/\S+\/export\?token=\S+)/.exec(receiptText)![1]!).searchParams.get('token')!;
    const copy = await fetch(`${base}/public/requests/${adaId}/export`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: exportToken }) });
    expect(copy.status).toBe(200);
    const exported = (await copy.json()) as { tables: Array<{ table: string; rows: Array<Record<string, string | null>> }> };
    const exportedMembers = exported.tables.find((t) => t.table.endsWith('"Members"'))!.rows;
    expect(exportedMembers.map((m) => m.email)).toEqual([addresses.ada]);
    expect(JSON.stringify(exported)).not.toContain(addresses.bob);
    expect(await cli('request', 'cancel', bobId)).toContain('canceled');

    // A restart in the middle of the grace period loses nothing.
    lethe.child.kill('SIGTERM');
    await lethe.exited();
    lethe = startCli(yaml, ['run'], env);
    await listening('the tracker to listen again');
    expect((await show(adaId)).state).toBe('waiting');

    // Two days later Cleo is reminded (with a fresh code); fifteen days later Ada's grace period
    // is over, and Cleo, who never verified, is closed.
    await writeFile(clock, String(2 * DAY));
    await waitFor(async () => (await mail.messagesTo(addresses.cleo)).some((m) => m.subject.startsWith('Reminder')), { timeoutMs: 30_000, what: "Cleo's reminder" });
    expect((await show(adaId)).state).toBe('waiting');
    await writeFile(clock, String(15 * DAY));
    const done = await waitFor(async () => {
      const r = await show(adaId);
      return r.state === 'complete_with_exceptions' && r;
    }, { timeoutMs: 120_000, what: `Ada's request to complete (${lethe.tail(3000)})` });
    expect((await show(cleo.body.id as string)).state).toBe('closed_unverified');
    expect((await show(bobId)).state).toBe('canceled');
    expect(done.exceptions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'kept', table: `${q}.invoices`, reason: 'tax law: invoices are kept 10 years' }),
        expect.objectContaining({ kind: 'held', scope: `table:${q}.orders`, basis: 'litigation hold, case 2026-117' }),
      ]),
    );

    // The primary: Ada anonymized, her messages deleted, invoices kept, held orders kept; the others whole.
    const row = async (sql: string, params: unknown[]) => (await db.client.query(sql, params)).rows;
    expect(await row(`SELECT email, name, erased_at IS NOT NULL AS erased FROM ${q}."Members" WHERE id = 42`, [])).toEqual([{ email: null, name: 'Erased member', erased: true }]);
    const count = async (table: string, member: string) => Number((await row(`SELECT count(*) AS n FROM ${q}.${table} WHERE member_id = $1`, [member]))[0].n);
    expect(await count('messages', '42')).toBe(0);
    expect(await count('invoices', '42')).toBe(2);
    expect(await count('orders', '42')).toBe(2);
    for (const m of ['4', '421']) {
      for (const table of ['messages', 'invoices', 'orders']) expect(await count(table, m), `${table} of ${m}`).toBe(2);
    }
    expect(await row(`SELECT id::text, email, name FROM ${q}."Members" WHERE id <> 42 ORDER BY id`, [])).toEqual([
      { id: '4', email: addresses.bob, name: 'Someone' },
      { id: '421', email: addresses.cleo, name: 'Someone' },
    ]);

    // Every sink: Ada's copies gone, the others' kept.
    expect(await redis.exists(`${p}:member:42`)).toBe(0);
    expect(await redis.exists(`${p}:member:4`, `${p}:member:421`)).toBe(2);
    await es.indices.refresh({ index: `${p}-members` });
    expect((await es.search({ index: `${p}-members`, query: { match_all: {} } })).hits.hits.map((h) => h._id).sort()).toEqual(['4', '421']);
    const [visits] = await bq.query({ query: `SELECT member_id FROM \`${e.bigqueryProjectId}.${dataset}.visits\` ORDER BY member_id` });
    expect(visits.map((v: { member_id: number }) => Number(v.member_id))).toEqual([4, 421]);
    const latest = new Map<string, string | null>();
    await readTopic(kafka, topic, async (record) => void latest.set(record.key!.toString(), record.value === null ? null : record.value.toString()));
    expect(latest.get('42')).toBeNull();
    expect(latest.get('4')).not.toBeNull();

    // The proof starts from the request and names what was kept and why; every ack names the request.
    const proof = JSON.parse(await cli('request', 'report', adaId, '--format', 'json')) as { request: string; state: string; summary: string; kept: Array<{ what: string; why: string }>; erasures: Array<{ request: string; status: string }> };
    expect(proof.request).toBe(adaId);
    expect(proof.summary).toMatch(/^Request complete with exceptions/);
    expect(proof.kept).toEqual(
      expect.arrayContaining([
        { what: `table ${q}.invoices`, why: 'kept by the catalog: tax law: invoices are kept 10 years' },
        expect.objectContaining({ what: `table ${q}.orders`, why: expect.stringContaining(`legal hold ${hold.id}: litigation hold, case 2026-117; review 2027-06-30`) }),
      ]),
    );
    expect(proof.erasures).toHaveLength(1);
    expect(proof.erasures[0]!.request).toContain(adaId);
    const acks = await row(`SELECT ack FROM ${id}_tracker.acks a JOIN ${id}_tracker.erasures e USING (event_id) WHERE e.facts->>'requestId' = $1`, [adaId]);
    expect(acks.length).toBeGreaterThanOrEqual(4);
    for (const a of acks) expect((a.ack as { requestId?: string }).requestId).toBe(adaId);

    // The mail: a completion with the proof's line; Cleo's reminder and closing; no address kept.
    await waitFor(async () => (await mail.messagesTo(addresses.ada)).some((m) => m.subject.includes('complete')), { timeoutMs: 30_000, what: 'the completion mail' });
    const completion = (await mail.messagesTo(addresses.ada)).find((m) => m.subject.includes('complete'))!;
    expect(await mail.textOf(completion.id)).toContain('kept');
    await waitFor(async () => (await mail.messagesTo(addresses.cleo)).some((m) => m.subject.includes('closed')), { timeoutMs: 30_000, what: "Cleo's closing mail" });
    expect((await mail.messagesTo(addresses.cleo)).some((m) => m.subject.startsWith('Reminder'))).toBe(true);
    expect(await row(`SELECT count(*)::int AS n FROM ${id}_tracker.requests WHERE identity_value IS NOT NULL AND closed_at IS NOT NULL`, [])).toEqual([{ n: 0 }]);
    // Releasing the hold erases what it kept, through the same path: a second execution, its
    // erasure through the CDC path, the request complete again with only the kept table left.
    await cli('hold', 'release', hold.id, '--note', 'case closed');
    const released = await waitFor(async () => {
      const { request: r, transitions } = JSON.parse(await cli('request', 'show', adaId, '--json')) as { request?: RequestView; transitions: Array<{ to: string }> } & RequestView;
      void r;
      return transitions.filter((t) => t.to === 'complete_with_exceptions').length === 2 && transitions;
    }, { timeoutMs: 120_000, what: `the request to complete after the release (${lethe.tail(2000)})` });
    expect(released.map((t) => t.to).slice(-4)).toEqual(['complete_with_exceptions', 'executing', 'propagating', 'complete_with_exceptions']);
    expect(await count('orders', '42')).toBe(0);
    expect(await count('orders', '4')).toBe(2);
    expect(await count('invoices', '42')).toBe(2);
    const after = JSON.parse(await cli('request', 'report', adaId, '--format', 'json')) as typeof proof;
    expect(after.erasures).toHaveLength(2);
    expect(after.kept).toEqual(expect.arrayContaining([expect.objectContaining({ what: `table ${q}.orders`, why: expect.stringContaining('released since') })]));

    // The dashboard lists the requests with their state.
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
    await using _browser = { [Symbol.asyncDispose]: () => browser.close() };
    const page = await browser.newPage();
    await page.goto(base);
    await page.locator('#login:not([hidden])').waitFor({ timeout: 15_000 });
    await page.fill('#token', operator.token);
    await page.click('#login button');
    await page.locator(`tr[data-request="${adaId}"][data-state="complete_with_exceptions"]`).waitFor({ timeout: 15_000 });
    await page.locator(`tr[data-request="${bobId}"][data-state="canceled"]`).waitFor({ timeout: 15_000 });

    // The public intake is rate limited per client address.
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await api('POST', '/public/requests', {})).status);
    expect(statuses).toContain(429);
    expect(statuses.filter((st) => st !== 429 && st !== 400)).toEqual([]);

    const metrics = await waitFor(async () => {
      const text = await (await fetch(`${base}/metrics`)).text();
      return text.includes('lethe_requests{type="erasure",state="complete_with_exceptions"} 1') && text;
    }, { timeoutMs: 30_000, what: 'the request gauges' });
    expect(metrics).toMatch(/lethe_requests\{type="erasure",state="complete_with_exceptions"\} 1/);
    expect(metrics).toMatch(/lethe_requests\{type="erasure",state="canceled"\} 1/);
  });
});
