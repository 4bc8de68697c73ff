import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseCatalog, type Catalog } from '../../../src/catalog/catalog.js';
import { createLogger } from '../../../src/logger.js';
import { ManualClock } from '../../../src/requests/clock.js';
import { openRequests, type RequestSystem } from '../../../src/requests/request-system.js';
import { RequestActionError } from '../../../src/requests/request-service.js';
import { closedPort } from '../../support/closed-port.js';
import { endpoints } from '../../support/endpoints.js';
import { mailpit, uniqueRecipient } from '../../support/mailpit.js';
import { uniqueName } from '../../support/names.js';
import { pgContext, type PgContext } from '../../support/pg-context.js';
import { waitFor } from '../../support/wait-for.js';

const DAY = 86_400_000;
const START = Date.parse('2026-12-01T09:00:00Z');
const logger = createLogger({ level: 'silent' });
const secret = randomBytes(32);

interface Shop {
  db: PgContext;
  schema: string;
  catalog: (requests?: string) => Catalog;
  member: (id: string, email: string) => Promise<void>;
}

/** A shop with members and their notes, a tracker schema of its own, and a catalog over both. */
async function shop(): Promise<Shop & AsyncDisposable> {
  const e = endpoints();
  const db = await pgContext();
  const schema = db.name('schema', 'lifecycle');
  const tracker = db.name('schema', 'lifecycle_tracker');
  await db.client.query(`CREATE SCHEMA ${schema}`);
  await db.client.query(`CREATE TABLE ${schema}.members (id text PRIMARY KEY, email text, erased_at timestamptz)`);
  await db.client.query(`CREATE TABLE ${schema}.notes (id serial PRIMARY KEY, member_id text NOT NULL REFERENCES ${schema}.members (id), body text)`);
  const catalog = (requests = '') =>
    parseCatalog(
      `
source: { url: "${e.databaseUrl}", publication: ${schema}_pub, slot: ${schema}_slot }
kafka: { brokers: ${e.kafkaBrokers.join(',')}, schemaRegistry: ${e.schemaRegistryUrl}, topics: { erasures: ${schema}.erasures } }
subjects:
  member:
    table: ${schema}.members
    key: id
    identities: { email: { column: email, caseInsensitive: true } }
    erasedWhen: [delete, { update: { column: erased_at, becomes: not_null } }]
    onRequest:
      - { table: ${schema}.members, action: { anonymize: { email: null } } }
      - { table: ${schema}.notes, subjectColumn: member_id, action: delete }
requests:
  mail: { smtp: "${e.smtpUrl}", from: "Privacy <privacy@shop.example>" }
  publicUrl: http://127.0.0.1:1
${requests}
tracker: { schema: ${tracker} }
`,
      process.env,
    );
  return {
    db,
    schema,
    catalog,
    member: async (id, email) => {
      await db.client.query(`INSERT INTO ${schema}.members (id, email) VALUES ($1, $2)`, [id, email]);
      await db.client.query(`INSERT INTO ${schema}.notes (member_id, body) VALUES ($1, 'a note')`, [id]);
    },
    [Symbol.asyncDispose]: () => db[Symbol.asyncDispose](),
  };
}

async function system(catalog: Catalog, clock: ManualClock): Promise<RequestSystem & AsyncDisposable> {
  const s = await openRequests(catalog, logger, { clock, secret });
  return Object.assign(s, { [Symbol.asyncDispose]: () => s.close() });
}

/** The code in the newest of at least `count` code mails to `address`. */
async function codeFor(address: string, count = 1): Promise<string> {
  const mail = mailpit();
  const codeMails = async () => (await mail.messagesTo(address)).filter((m) => /^(Confirm|Reminder)/.test(m.subject));
  await waitFor(async () => (await codeMails()).length >= count, { what: `${count} code mail(s)` });
  const text = await mail.textOf((await codeMails())[0]!.id);
  return /\b(\d{6})\b/.exec(text)![1]!;
}

describe('the request lifecycle against the real database and mail server', () => {
  it('reminds after a day with a fresh code, then closes a request nobody verified, and never verifies with the old code', async () => {
    await using s = await shop();
    const clock = new ManualClock(START);
    await using r = await system(s.catalog(), clock);
    const address = uniqueRecipient('remind');
    await s.member('42', address);
    const { request } = await r.service.create({ type: 'erasure', identity: { kind: 'email', value: address }, source: 'public', actor: 'subject' });
    await r.worker.tick();
    const first = await codeFor(address);
    clock.advance(DAY + 1000);
    await r.worker.tick();
    await mailpit().waitForMessage(address, (m) => m.subject.startsWith('Reminder'));
    const second = await codeFor(address, 2);
    if (first !== second) expect((await r.service.verifyCode(request.id, first)).verified).toBe(false);
    clock.advance(6 * DAY);
    await r.worker.tick();
    const closed = await r.service.show(request.id);
    expect(closed.request.state).toBe('closed_unverified');
    expect(closed.transitions.map((t) => t.to)).toEqual(['received', 'identity_unverified', 'closed_unverified']);
    await expect(r.service.verifyCode(request.id, second)).rejects.toThrow(/closed_unverified/);
    await mailpit().waitForMessage(address, (m) => m.subject.includes('closed'));
    // Closed and its last mail sent: the address is forgotten.
    expect((await r.service.store.get(request.id))!.identityValue).toBeNull();
    expect(Number((await s.db.client.query(`SELECT count(*) AS n FROM ${s.schema}.notes WHERE member_id = '42'`)).rows[0].n)).toBe(1);
  });

  it('closes a request after the allowed number of wrong codes, and a link verifies only its own request', async () => {
    await using s = await shop();
    const clock = new ManualClock(START);
    await using r = await system(s.catalog('  verification: { maxAttempts: 3 }'), clock);
    const address = uniqueRecipient('attempts');
    const a = await r.service.create({ type: 'erasure', identity: { kind: 'email', value: address }, source: 'public', actor: 'subject' });
    const b = await r.service.create({ type: 'erasure', identity: { kind: 'email', value: uniqueRecipient('other') }, source: 'public', actor: 'subject' });
    await r.worker.tick();
    const code = await codeFor(address);
    const wrong = code === '000000' ? '000001' : '000000';
    expect((await r.service.verifyCode(a.request.id, wrong)).request.state).toBe('identity_unverified');
    expect((await r.service.verifyCode(a.request.id, wrong)).request.state).toBe('identity_unverified');
    expect((await r.service.verifyCode(a.request.id, wrong)).request.state).toBe('closed_unverified');
    await expect(r.service.verifyCode(a.request.id, code)).rejects.toThrow(/closed_unverified/);
    const link = await r.service.secrets.linkToken(a.request.id, 'verify', clock.now() + DAY);
    await expect(r.service.verifyLink(b.request.id, link)).rejects.toMatchObject({ code: 'BAD_LINK' });
    const own = await r.service.secrets.linkToken(b.request.id, 'verify', clock.now() + DAY);
    // Verified, but no member has that address: denied only now, after verification.
    expect((await r.service.verifyLink(b.request.id, own)).state).toBe('denied');
    expect((await r.service.store.get(b.request.id))!.denialReason).toBe('no_such_subject');
  });

  it('denies an identity two subjects share (by case) as unverifiable, and erases neither', async () => {
    await using s = await shop();
    const clock = new ManualClock(START);
    await using r = await system(s.catalog(), clock);
    const address = uniqueRecipient('shared');
    await s.member('1', address);
    await s.member('2', address.toUpperCase());
    const { request } = await r.service.create({ type: 'erasure', identity: { kind: 'email', value: address }, source: 'api', actor: 'token:ops', verified: true });
    expect(request.state).toBe('denied');
    expect(request.denialReason).toBe('cannot_verify');
    expect(request.subjectId).toBeNull();
    clock.advance(20 * DAY);
    await r.worker.tick();
    expect((await s.db.client.query(`SELECT count(*)::int AS n FROM ${s.schema}.members WHERE email IS NOT NULL`)).rows).toEqual([{ n: 2 }]);
  });

  it('waits for an approval when the policy asks, denies with a reason, and extends a deadline once within the law', async () => {
    await using s = await shop();
    const clock = new ManualClock(Date.parse('2027-01-31T10:00:00Z'));
    await using r = await system(s.catalog('  approval: { erasure: true }'), clock);
    await s.member('7', uniqueRecipient('seven'));
    const { request } = await r.service.create({ type: 'erasure', subject: { type: 'member', id: '7' }, source: 'api', actor: 'token:ops' });
    expect(request.state).toBe('awaiting_approval');
    expect(new Date(request.deadline).toISOString()).toBe('2027-02-28T10:00:00.000Z');
    await expect(r.service.extend(request.id, 'complex case', 'token:ops', Date.parse('2027-05-01T00:00:00Z'))).rejects.toThrow(/at most 2027-04-28/);
    const extended = await r.service.extend(request.id, 'records in three archives', 'token:ops');
    expect(new Date(extended.deadline).toISOString()).toBe('2027-04-28T10:00:00.000Z');
    await expect(r.service.extend(request.id, 'again', 'token:ops')).rejects.toMatchObject({ code: 'ALREADY_EXTENDED' });
    const approved = await r.service.approve(request.id, 'token:lead');
    expect(approved.state).toBe('waiting');
    const denied = await r.service.deny(request.id, 'manifestly_unfounded', 'token:lead', 'the fifth identical request this week');
    expect(denied.state).toBe('denied');
    const history = (await r.service.show(request.id)).transitions;
    expect(history.map((t) => [t.to, t.actor])).toEqual([
      ['received', 'token:ops'],
      ['verified', 'token:ops'],
      ['awaiting_approval', 'system'],
      ['awaiting_approval', 'token:ops'],
      ['waiting', 'token:lead'],
      ['denied', 'token:lead'],
    ]);
    await expect(r.service.cancel(request.id, 'token:ops')).rejects.toBeInstanceOf(RequestActionError);
  });

  it('executes a request once when two instances reach the end of its grace period together, and refuses a cancel after', async () => {
    await using s = await shop();
    const clock = new ManualClock(START);
    const catalog = s.catalog();
    await using one = await system(catalog, clock);
    await using two = await system(catalog, clock);
    await s.member('42', uniqueRecipient('race'));
    await s.member('4', uniqueRecipient('neighbour'));
    const { request } = await one.service.create({ type: 'erasure', subject: { type: 'member', id: '42' }, source: 'cli', actor: 'cli:test' });
    expect(request.state).toBe('waiting');
    clock.advance(14 * DAY + 1);
    await Promise.all([one.worker.tick(), two.worker.tick(), one.worker.tick(), two.worker.tick()]);
    const after = await one.service.show(request.id);
    expect(after.request.state).toBe('propagating');
    expect(after.transitions.filter((t) => t.to === 'executing')).toHaveLength(1);
    expect(after.transitions.filter((t) => t.to === 'propagating')).toHaveLength(1);
    const { rows } = await s.db.client.query(`SELECT executions FROM ${catalog.tracker.schema}.requests WHERE id = $1`, [request.id]);
    expect(rows[0].executions).toBe(1);
    expect((await s.db.client.query(`SELECT id, email IS NULL AS anonymized, erased_at IS NOT NULL AS erased FROM ${s.schema}.members ORDER BY id`)).rows).toEqual([
      { id: '4', anonymized: false, erased: false },
      { id: '42', anonymized: true, erased: true },
    ]);
    expect((await s.db.client.query(`SELECT member_id FROM ${s.schema}.notes`)).rows).toEqual([{ member_id: '4' }]);
    await expect(two.service.cancel(request.id, 'cli:test')).rejects.toThrow(/point of no return/);
  });

  it('a cancel racing the end of the grace period either cancels before execution or is refused after it, never both', async () => {
    await using s = await shop();
    const clock = new ManualClock(START);
    await using r = await system(s.catalog(), clock);
    for (let i = 0; i < 6; i++) await s.member(`7${i}`, uniqueRecipient(`race${i}`));
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await r.service.create({ type: 'erasure', subject: { type: 'member', id: `7${i}` }, source: 'cli', actor: 'cli:test' })).request.id);
    clock.advance(14 * DAY + 1);
    const cancels = ids.map((id) => r.service.cancel(id, 'cli:test').then(() => 'canceled' as const, (error: Error) => (/point of no return/.test(error.message) ? ('too late' as const) : Promise.reject(error))));
    await Promise.all([r.worker.tick(), ...cancels]);
    await r.worker.tick();
    for (const [i, id] of ids.entries()) {
      const { request } = await r.service.show(id);
      const anonymized = (await s.db.client.query(`SELECT email IS NULL AS gone FROM ${s.schema}.members WHERE id = $1`, [`7${i}`])).rows[0].gone as boolean;
      expect(['canceled', 'propagating']).toContain(request.state);
      expect(anonymized, `${id} is ${request.state}`).toBe(request.state === 'propagating');
      expect(await cancels[i]).toBe(request.state === 'canceled' ? 'canceled' : 'too late');
    }
  });

  it('keeps everything under a hold over all, then executes when the hold is released', async () => {
    await using s = await shop();
    const clock = new ManualClock(START);
    await using r = await system(s.catalog(), clock);
    await s.member('9', uniqueRecipient('held'));
    const holdId = `hold_${uniqueName('h')}`;
    await s.db.client.query(
      `INSERT INTO ${s.catalog().tracker.schema}.holds (id, subject_type, subject_id, scope, basis, review_at, placed_by, placed_at) VALUES ($1, 'member', '9', 'all', 'regulator inquiry', '2027-06-30', 'cli:test', now())`,
      [holdId],
    );
    const { request } = await r.service.create({ type: 'erasure', subject: { type: 'member', id: '9' }, source: 'cli', actor: 'cli:test' });
    clock.advance(15 * DAY);
    await r.worker.tick();
    const held = (await r.service.show(request.id)).request;
    expect(held.state).toBe('complete_with_exceptions');
    expect(held.exceptions).toEqual([expect.objectContaining({ kind: 'held', scope: 'all', holdId, basis: 'regulator inquiry' })]);
    expect((await s.db.client.query(`SELECT email IS NOT NULL AS kept FROM ${s.schema}.members WHERE id = '9'`)).rows).toEqual([{ kept: true }]);
    await s.db.client.query(`UPDATE ${s.catalog().tracker.schema}.holds SET released_at = now(), released_by = 'cli:test' WHERE id = $1`, [holdId]);
    await r.worker.tick();
    await r.worker.tick();
    expect((await r.service.show(request.id)).request.state).toBe('propagating');
    expect((await s.db.client.query(`SELECT email IS NULL AS anonymized FROM ${s.schema}.members WHERE id = '9'`)).rows).toEqual([{ anonymized: true }]);
  });

  it('keeps a mail queued while the SMTP server does not answer, and sends it once it does', async () => {
    await using s = await shop();
    const clock = new ManualClock(START);
    const port = await closedPort();
    const down = s.catalog().requests;
    const catalog = { ...s.catalog(), requests: { ...down, mail: { ...down.mail!, smtp: `smtp://127.0.0.1:${port}` } } };
    await using broken = await system(catalog, clock);
    const address = uniqueRecipient('outage');
    const { request } = await broken.service.create({ type: 'erasure', identity: { kind: 'email', value: address }, source: 'public', actor: 'subject' });
    await expect(broken.worker.tick()).rejects.toMatchObject({ service: 'smtp' });
    const queued = await s.db.client.query(`SELECT sent_at, kind FROM ${catalog.tracker.schema}.request_mail WHERE request_id = $1`, [request.id]);
    expect(queued.rows).toEqual([{ sent_at: null, kind: 'verification' }]);
    await using working = await system(s.catalog(), clock);
    await working.worker.tick();
    expect(await codeFor(address)).toMatch(/^\d{6}$/);
  });
});
