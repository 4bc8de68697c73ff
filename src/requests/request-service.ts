import type pg from 'pg';
import type { Catalog, SubjectType } from '../catalog/catalog.js';
import { subjectIdOf } from '../cdc/erasure-manifest.js';
import { parseSubjectRef } from '../holds/hold-scope.js';
import { LetheError, UsageError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Clock } from './clock.js';
import { deadlineOf, EXTENSION_RULE, latestExtensionOf, type Law } from './deadlines.js';
import { newRequestId, type RequestSecrets } from './request-secrets.js';
import { CANCELABLE, DENIABLE, type Actor, type DenialReason, type RequestState, type RequestType } from './request-states.js';
import type { RequestRow, RequestStore, Transition } from './request-store.js';
import type { AccessExport } from './access-export.js';

/**
 * What people and operators do to a request: intake, verification, approval, denial, cancel,
 * extension. Each action is one transaction on the request store; what it sends is queued in
 * the store's outbox in the same transaction, so a mail is never lost and never sent for a move
 * that did not happen. Time is the injected clock's.
 */
export type ResolveIdentity = (subjectType: string, kind: string, value: string) => Promise<Record<string, string> | null>;

export interface CreateInput {
  type: RequestType;
  law?: Law;
  /** An identity to resolve (email=ada@example.com), or a subject an operator names. */
  identity?: { kind: string; value: string };
  subject?: { type: string; id: string };
  subjectType?: string;
  source: 'api' | 'public' | 'cli';
  idempotencyKey?: string;
  actor: Actor;
  /** An operator vouches for the identity: no code is sent. */
  verified?: boolean;
}

export class RequestActionError extends LetheError {
  constructor(
    code: string,
    message: string,
    readonly status: number,
  ) {
    super(code, message);
  }
}

const notFound = (id: string) => new RequestActionError('NOT_FOUND', `no request ${id}`, 404);
const wrongState = (r: RequestRow, action: string) => new RequestActionError('WRONG_STATE', `request ${r.id} is ${r.state}: it cannot be ${action} now`, 409);

export class RequestService {
  /** Reads a subject's rows from the primary now (export before erasure); set by openRequests. */
  exportNow?: (input: { requestId: string; subjectType: string; key: Record<string, string>; now: number }) => Promise<AccessExport>;
  /** Refuses a named subject's key that is not as the primary prints it; set by openRequests. */
  checkKey?: (subjectType: string, key: Record<string, string>) => Promise<void>;

  constructor(
    readonly catalog: Catalog,
    readonly store: RequestStore,
    readonly clock: Clock,
    readonly secrets: RequestSecrets,
    private readonly resolveIdentity: ResolveIdentity,
    private readonly logger: Logger,
  ) {}

  async create(input: CreateInput): Promise<{ request: RequestRow; created: boolean }> {
    const now = this.clock.now();
    const target = this.targetOf(input);
    if (input.subject && this.checkKey) {
      try {
        await this.checkKey(target.subjectType, target.subjectKey!);
      } catch (error) {
        if (error instanceof UsageError) throw new RequestActionError('BAD_REQUEST', `subject ${input.subject.type}:${input.subject.id}: ${error.message}`, 400);
        throw error;
      }
    }
    const law = input.law ?? this.catalog.requests.defaultLaw;
    if (input.source === 'public' && !this.catalog.requests.mail) throw new RequestActionError('NO_MAIL', 'the public intake needs requests.mail in the catalog (codes are sent by mail)', 503);
    if (input.source !== 'public' && input.idempotencyKey?.startsWith('public:')) throw new RequestActionError('BAD_REQUEST', "an idempotency key may not start with 'public:' (the public intake's own keys)", 400);
    const id = newRequestId();
    const identityHash = input.identity ? this.secrets.identityHash(input.identity.kind, input.identity.value) : null;
    // The public's keys are the public's own, per identity: one person's key never finds another's request.
    const idempotencyKey = input.idempotencyKey === undefined ? null : input.source === 'public' ? `public:${identityHash}:${input.idempotencyKey}` : input.idempotencyKey;
    return this.store.transaction(async (db) => {
      if (input.source === 'public') {
        // One open verification per identity and type: asking again (or someone asking in a
        // stranger's name, over and over) sends no second code.
        await this.store.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`lethe public request ${identityHash}`], 'serializing the intake of one identity', db);
        const { rows } = await this.store.query<{ id: string }>(
          `SELECT id FROM ${this.store.s}.requests WHERE identity_hash = $1 AND type = $2 AND subject_type = $3 AND source = 'public' AND state IN ('received', 'identity_unverified') LIMIT 1`,
          [identityHash, input.type, target.subjectType],
          'looking for an open request of this identity',
          db,
        );
        if (rows[0]) return { request: (await this.store.get(rows[0].id, db))!, created: false };
      }
      const inserted = await this.store.insert(
        db,
        {
          id,
          type: input.type,
          law,
          subjectType: target.subjectType,
          subjectId: target.subjectId,
          subjectKey: target.subjectKey,
          identityKind: input.identity?.kind ?? null,
          identityValue: input.identity?.value.trim() ?? null,
          identityHash,
          source: input.source,
          idempotencyKey,
          createdBy: input.actor,
          receivedAt: now,
          deadline: deadlineOf(law, now),
        },
        now,
      );
      if (!inserted) return { request: await this.sameRequest(db, input, idempotencyKey!, identityHash), created: false };
      const needsCode = input.identity !== undefined && !(input.verified && input.source !== 'public');
      if (needsCode) {
        const r = (await this.store.move(db, id, ['received'], 'identity_unverified', 'system', 'a code was sent to the identity', now))!;
        const v = this.catalog.requests.verification;
        await this.store.query(
          `INSERT INTO ${this.store.s}.request_verifications (request_id, expires_at) VALUES ($1, to_timestamp($2 / 1000.0))`,
          [id, now + v.expiresInMs],
          `opening the verification of request ${id}`,
          db,
        );
        await this.store.setTimer(db, id, 'verification_reminder', now + v.remindAfterMs);
        await this.store.setTimer(db, id, 'verification_expiry', now + v.expiresInMs);
        await this.store.setTimer(db, id, 'deadline', r.deadline);
        await this.store.queueMail(db, id, 'verification', {}, now);
        return { request: r, created: true };
      }
      await this.store.move(db, id, ['received'], 'verified', input.actor, input.identity ? 'verified by the operator' : 'named by the operator', now);
      await this.store.setTimer(db, id, 'deadline', deadlineOf(law, now));
      return { request: await this.proceed(db, id, input.actor, now), created: true };
    });
  }

  /** A duplicate idempotency key: the first request, if the second asked for the same thing. */
  private async sameRequest(db: pg.PoolClient, input: CreateInput, key: string, identityHash: string | null): Promise<RequestRow> {
    const first = (await this.store.byIdempotencyKey(key, db))!;
    const sameSubject = input.subject ? first.subjectType === input.subject.type && first.subjectId === this.targetOf(input).subjectId : first.identityHash === identityHash;
    if (first.type !== input.type || !sameSubject) {
      // The public is not told which request holds the key.
      const which = input.source === 'public' ? 'another request' : `request ${first.id}`;
      throw new RequestActionError('IDEMPOTENCY_CONFLICT', `the idempotency key is already used by ${which}, for something else`, 409);
    }
    return first;
  }

  /** The subject a request names, or the subject type its identity is resolved in. */
  private targetOf(input: CreateInput): { subjectType: string; subjectId: string | null; subjectKey: Record<string, string> | null } {
    if (input.subject && input.identity) throw new RequestActionError('BAD_REQUEST', 'a request names a subject or an identity, not both', 400);
    if (input.subject) {
      this.subjectType(input.subject.type);
      try {
        const ref = parseSubjectRef(this.catalog, `${input.subject.type}:${input.subject.id}`);
        return { subjectType: ref.subjectType, subjectId: ref.subjectId, subjectKey: ref.key };
      } catch (error) {
        throw new RequestActionError('BAD_REQUEST', (error as Error).message.replace(/^--subject /, 'subject '), 400);
      }
    }
    if (!input.identity) throw new RequestActionError('BAD_REQUEST', 'a request needs an identity (e.g. email=ada@example.com) or a subject (e.g. user:42)', 400);
    const kind = input.identity.kind;
    const candidates = this.catalog.subjects.filter((s) => s.identities.some((i) => i.kind === kind) && (!input.subjectType || s.type === input.subjectType));
    if (candidates.length === 0) {
      const known = [...new Set(this.catalog.subjects.flatMap((s) => s.identities.map((i) => i.kind)))];
      throw new RequestActionError('BAD_REQUEST', `no subject type is found by identity ${kind}${input.subjectType ? ` in ${input.subjectType}` : ''} (identities: ${known.join(', ') || 'none in the catalog'})`, 400);
    }
    if (candidates.length > 1) throw new RequestActionError('BAD_REQUEST', `identity ${kind} finds subjects of ${candidates.map((s) => s.type).join(' and ')}: name subjectType`, 400);
    return { subjectType: candidates[0]!.type, subjectId: null, subjectKey: null };
  }

  subjectType(type: string): SubjectType {
    const subject = this.catalog.subjects.find((s) => s.type === type);
    if (!subject) throw new RequestActionError('BAD_REQUEST', `no subject type ${type} in the catalog (${this.catalog.subjects.map((s) => s.type).join(', ')})`, 400);
    return subject;
  }

  /**
   * After verification: finds the subject (none is a denial, said only now, so intake never tells
   * who is a customer), then approval, the grace period, or execution at once.
   */
  private async proceed(db: pg.PoolClient, id: string, actor: Actor, now: number): Promise<RequestRow> {
    let r = (await this.store.get(id, db, true))!;
    if (r.subjectId === null) {
      let key: Record<string, string> | null;
      try {
        key = await this.resolveIdentity(r.subjectType!, r.identityKind!, r.identityValue!);
      } catch (error) {
        if ((error as { code?: string }).code !== 'IDENTITY_AMBIGUOUS') throw error;
        // Two subjects share the identity: which one asked cannot be told, and erasing both would
        // erase a neighbour. An operator who can tell makes the request for the subject by name.
        this.logger.warn({ requestId: id, subjectType: r.subjectType }, 'the identity finds more than one subject: denied as cannot_verify');
        const denied = (await this.store.move(db, id, ['verified'], 'denied', 'system', 'the identity finds more than one subject; an operator may name the subject', now, { denial_reason: 'cannot_verify' }))!;
        await this.store.queueMail(db, id, 'denial', { reason: 'cannot_verify' }, now);
        return denied;
      }
      if (!key) {
        const denied = (await this.store.move(db, id, ['verified'], 'denied', 'system', 'no subject has this identity', now, { denial_reason: 'no_such_subject' }))!;
        await this.store.queueMail(db, id, 'denial', { reason: 'no_such_subject' }, now);
        return denied;
      }
      const subject = this.subjectType(r.subjectType!);
      const subjectId = subjectIdOf(subject.key.map((c) => key[c]!));
      await this.store.query(`UPDATE ${this.store.s}.requests SET subject_id = $2, subject_key = $3 WHERE id = $1`, [id, subjectId, JSON.stringify(key)], `resolving request ${id}`, db);
      r = (await this.store.get(id, db, true))!;
    }
    if (this.catalog.requests.approval[r.type]) return (await this.store.move(db, id, ['verified'], 'awaiting_approval', 'system', 'the policy asks for an approval', now))!;
    return this.startGrace(db, r, now);
  }

  private async startGrace(db: pg.PoolClient, r: RequestRow, now: number, actor: Actor = 'system', reason: string | null = null): Promise<RequestRow> {
    const grace = this.catalog.requests.graceMs[r.type];
    if (grace === 0) {
      await this.store.queueMail(db, r.id, 'receipt', {}, now);
      return (await this.store.move(db, r.id, [r.state], 'executing', actor, reason ?? 'no grace period for this type', now))!;
    }
    const moved = (await this.store.move(db, r.id, [r.state], 'waiting', actor, reason, now, { grace_ends_at: now + grace }))!;
    await this.store.setTimer(db, r.id, 'grace_end', now + grace);
    await this.store.queueMail(db, r.id, 'receipt', {}, now);
    return moved;
  }

  async verifyCode(id: string, code: string): Promise<{ verified: boolean; request: RequestRow }> {
    const now = this.clock.now();
    return this.store.transaction(async (db) => {
      const r = await this.store.get(id, db, true);
      if (!r) throw notFound(id);
      if (r.state !== 'identity_unverified') throw wrongState(r, 'verified');
      const { rows } = await this.store.query<{ code_hash: string | null; attempts: number; expires_at: Date }>(
        `SELECT code_hash, attempts, expires_at FROM ${this.store.s}.request_verifications WHERE request_id = $1 FOR UPDATE`,
        [id],
        `reading the verification of request ${id}`,
        db,
      );
      const v = rows[0];
      if (!v || v.code_hash === null) throw new RequestActionError('NO_CODE', `request ${id}: no code has been sent yet; try again in a minute`, 409);
      if (v.expires_at.getTime() <= now) return { verified: false, request: await this.closeUnverified(db, id, 'the code expired', now) };
      if (this.secrets.codeMatches(id, code, v.code_hash)) return { verified: true, request: await this.markVerified(db, id, 'subject', 'the code from the mail', now) };
      const attempts = v.attempts + 1;
      await this.store.query(`UPDATE ${this.store.s}.request_verifications SET attempts = $2 WHERE request_id = $1`, [id, attempts], `counting an attempt of request ${id}`, db);
      if (attempts >= this.catalog.requests.verification.maxAttempts) return { verified: false, request: await this.closeUnverified(db, id, `${attempts} wrong codes`, now) };
      return { verified: false, request: r };
    });
  }

  async verifyLink(id: string, token: string): Promise<RequestRow> {
    const now = this.clock.now();
    if (!(await this.secrets.checkLink(token, id, 'verify', now))) throw new RequestActionError('BAD_LINK', 'this verification link is not valid (expired, or not for this request)', 403);
    return this.store.transaction(async (db) => {
      const r = await this.store.get(id, db, true);
      if (!r) throw notFound(id);
      if (r.state !== 'identity_unverified') throw wrongState(r, 'verified');
      return this.markVerified(db, id, 'subject', 'the link from the mail', now);
    });
  }

  async verifyByOperator(id: string, actor: Actor, note?: string): Promise<RequestRow> {
    const now = this.clock.now();
    return this.store.transaction(async (db) => {
      const r = await this.store.get(id, db, true);
      if (!r) throw notFound(id);
      if (r.state !== 'identity_unverified') throw wrongState(r, 'verified');
      return this.markVerified(db, id, actor, note ?? 'verified by hand', now);
    });
  }

  private async markVerified(db: pg.PoolClient, id: string, actor: Actor, how: string, now: number): Promise<RequestRow> {
    await this.store.query(`UPDATE ${this.store.s}.request_verifications SET used_at = to_timestamp($2 / 1000.0), code_hash = NULL WHERE request_id = $1`, [id, now], `closing the verification of request ${id}`, db);
    await this.store.clearTimers(db, id, ['verification_reminder', 'verification_expiry']);
    await this.store.move(db, id, ['identity_unverified'], 'verified', actor, how, now);
    return this.proceed(db, id, actor, now);
  }

  async closeUnverified(db: pg.PoolClient, id: string, reason: string, now: number): Promise<RequestRow> {
    await this.store.query(`UPDATE ${this.store.s}.request_verifications SET code_hash = NULL WHERE request_id = $1`, [id], `closing the verification of request ${id}`, db);
    await this.store.clearTimers(db, id, ['verification_reminder', 'verification_expiry', 'deadline']);
    const r = (await this.store.move(db, id, ['identity_unverified'], 'closed_unverified', 'system', reason, now))!;
    await this.store.queueMail(db, id, 'closed_unverified', {}, now);
    return r;
  }

  async approve(id: string, actor: Actor): Promise<RequestRow> {
    const now = this.clock.now();
    return this.store.transaction(async (db) => {
      const r = await this.store.get(id, db, true);
      if (!r) throw notFound(id);
      if (r.state !== 'awaiting_approval') throw wrongState(r, 'approved');
      return this.startGrace(db, r, now, actor, 'approved');
    });
  }

  async deny(id: string, reason: DenialReason, actor: Actor, note?: string): Promise<RequestRow> {
    const now = this.clock.now();
    return this.store.transaction(async (db) => {
      const r = await this.store.get(id, db, true);
      if (!r) throw notFound(id);
      if (!DENIABLE.has(r.state)) throw wrongState(r, 'denied');
      await this.store.clearTimers(db, id, ['verification_reminder', 'verification_expiry', 'grace_end', 'deadline']);
      const denied = (await this.store.move(db, id, [r.state], 'denied', actor, note ? `${reason}: ${note}` : reason, now, { denial_reason: reason }))!;
      await this.store.queueMail(db, id, 'denial', { reason }, now);
      return denied;
    });
  }

  /** Cancels before execution; from then on it is too late, and the answer says so. */
  async cancel(id: string, actor: Actor, reason?: string): Promise<RequestRow> {
    const now = this.clock.now();
    return this.store.transaction(async (db) => {
      const r = await this.store.get(id, db, true);
      if (!r) throw notFound(id);
      if (!CANCELABLE.has(r.state)) {
        const late = ['executing', 'propagating', 'complete', 'complete_with_exceptions', 'failed'].includes(r.state);
        throw new RequestActionError('TOO_LATE', late ? `request ${r.id} is ${r.state}: it was executed (the point of no return), so it can no longer be canceled` : `request ${r.id} is ${r.state}: there is nothing to cancel`, 409);
      }
      await this.store.clearTimers(db, id, ['verification_reminder', 'verification_expiry', 'grace_end', 'deadline']);
      const canceled = (await this.store.move(db, id, [r.state], 'canceled', actor, reason ?? null, now))!;
      await this.store.queueMail(db, id, 'canceled', {}, now);
      return canceled;
    });
  }

  async cancelByLink(id: string, token: string): Promise<RequestRow> {
    if (!(await this.secrets.checkLink(token, id, 'cancel', this.clock.now()))) throw new RequestActionError('BAD_LINK', 'this cancel link is not valid (expired, or not for this request)', 403);
    return this.cancel(id, 'subject', 'the cancel link from the mail');
  }

  /** Extends the deadline once, within the law's bound, with the reason the person is told. */
  async extend(id: string, reason: string, actor: Actor, until?: number): Promise<RequestRow> {
    const now = this.clock.now();
    return this.store.transaction(async (db) => {
      const r = await this.store.get(id, db, true);
      if (!r) throw notFound(id);
      if (r.closedAt !== null) throw wrongState(r, 'extended');
      if (r.extendedAt !== null) throw new RequestActionError('ALREADY_EXTENDED', `request ${id} was extended already (${new Date(r.extendedAt).toISOString()}): ${EXTENSION_RULE[r.law]}, once`, 409);
      const latest = latestExtensionOf(r.law, r.deadline);
      // A date is a calendar day: the law's last day is allowed, up to the bound's own time.
      const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
      const to = until === undefined || day(until) === day(latest) ? latest : until;
      if (to > latest) throw new RequestActionError('BAD_REQUEST', `${new Date(to).toISOString().slice(0, 10)} is beyond what the law allows: ${EXTENSION_RULE[r.law]} (at most ${new Date(latest).toISOString().slice(0, 10)})`, 400);
      if (to <= r.deadline) throw new RequestActionError('BAD_REQUEST', `an extension moves the deadline later than ${new Date(r.deadline).toISOString().slice(0, 10)}`, 400);
      if (now > r.deadline) throw new RequestActionError('TOO_LATE', `request ${id} is past its deadline: an extension must be made (and told) within the first period`, 409);
      await this.store.query(
        `UPDATE ${this.store.s}.requests SET deadline = to_timestamp($2 / 1000.0), extended_at = to_timestamp($3 / 1000.0), extension_reason = $4, updated_at = to_timestamp($3 / 1000.0) WHERE id = $1`,
        [id, to, now, reason],
        `extending request ${id}`,
        db,
      );
      await this.store.appendTransition(db, id, r.state, r.state, actor, `deadline extended to ${new Date(to).toISOString().slice(0, 10)}: ${reason}`, now);
      await this.store.setTimer(db, id, 'deadline', to);
      await this.store.queueMail(db, id, 'extended', { reason }, now);
      return (await this.store.get(id, db))!;
    });
  }

  /**
   * Executes again a request whose execution failed (a refusal the operator has since fixed: a
   * foreign key, a table, the access export's size). A failed erasure of an executed request is
   * redriven instead (`lethe dlq redrive`), and the request follows it.
   */
  async retry(id: string, actor: Actor): Promise<RequestRow> {
    const now = this.clock.now();
    return this.store.transaction(async (db) => {
      const r = await this.store.get(id, db, true);
      if (!r) throw notFound(id);
      if (r.state !== 'failed') throw wrongState(r, 'retried');
      if (!r.executionFailed) throw new RequestActionError('EXECUTED', `request ${id} was executed; its erasure failed in a sink: redrive it (lethe dlq redrive) and the request follows`, 409);
      return (await this.store.move(db, id, ['failed'], 'executing', actor, 'retried', now, { lease_owner: null, lease_until: null, execution_failed: false }))!;
    });
  }

  async show(id: string): Promise<{ request: RequestRow; transitions: Transition[] }> {
    const request = await this.store.get(id);
    if (!request) throw notFound(id);
    return { request, transitions: await this.store.transitions(id) };
  }

  list(filter: { states?: RequestState[]; subjectType?: string; subjectId?: string; limit?: number } = {}): Promise<RequestRow[]> {
    return this.store.list(filter);
  }
}
