import { describe, expect, it } from 'vitest';
import type { RequestHandler } from '../../../src/catalog/catalog.js';
import { exceptionsOf, nextState, releasePlan } from '../../../src/requests/request-execution.js';
import { composeMail } from '../../../src/requests/request-ports.js';
import { requestProof } from '../../../src/requests/request-report.js';
import type { RequestException, RequestRow } from '../../../src/requests/request-store.js';
import { foldErasure, type ErasureFacts, type ExpectedTarget } from '../../../src/tracker/erasure-status.js';

const T0 = Date.UTC(2026, 11, 1, 9, 0, 0);
const kept: RequestException = { kind: 'kept', table: 'shop.invoices', reason: 'tax law: 10 years' };
const heldOrders: RequestException = { kind: 'held', scope: 'table:shop.orders', holdId: 'hold_a', basis: 'litigation', review: '2027-06-30' };

const request = (over: Partial<RequestRow> = {}): RequestRow => ({
  id: 'req_abcdefghijklmnopqrstuvwxyz',
  type: 'erasure',
  state: 'propagating',
  law: 'gdpr',
  subjectType: 'user',
  subjectId: '42',
  subjectKey: { id: '42' },
  identityKind: 'email',
  identityValue: 'ada@example.com',
  identityHash: null,
  source: 'public',
  idempotencyKey: null,
  createdBy: 'subject',
  receivedAt: T0,
  deadline: T0 + 31 * 86_400_000,
  extendedAt: null,
  extensionReason: null,
  graceEndsAt: null,
  denialReason: null,
  exceptions: [],
  pendingTables: null,
  executionFailed: false,
  executedAt: T0,
  closedAt: null,
  updatedAt: T0,
  ...over,
});

describe('where a request goes from its erasures', () => {
  it('waits until every execution has its erasure, then completes', () => {
    expect(nextState(request(), [], true)).toBeUndefined();
    expect(nextState(request(), ['complete'], false)).toBeUndefined();
    expect(nextState(request(), ['complete', 'pending'], true)).toBeUndefined();
    expect(nextState(request(), ['complete', 'complete'], true)).toBe('complete');
  });

  it('completes with exceptions while something is kept or held, and not for a released hold', () => {
    expect(nextState(request({ exceptions: [kept] }), ['complete'], true)).toBe('complete_with_exceptions');
    expect(nextState(request({ exceptions: [heldOrders] }), ['complete'], true)).toBe('complete_with_exceptions');
    expect(nextState(request({ exceptions: [{ ...heldOrders, released: true }] }), ['complete'], true)).toBe('complete');
    expect(nextState(request(), ['held'], true)).toBe('complete_with_exceptions');
  });

  it('fails while an erasure failed, and a failed request completes once it is redriven', () => {
    expect(nextState(request(), ['failed'], true)).toBe('failed');
    expect(nextState(request({ state: 'failed' }), ['failed'], true)).toBeUndefined();
    expect(nextState(request({ state: 'failed' }), ['complete'], true)).toBe('complete');
    expect(nextState(request({ state: 'complete_with_exceptions' }), ['complete', 'failed'], true)).toBe('failed');
  });
});

describe('what an execution keeps', () => {
  const handlers = [
    { table: { schema: 'shop', name: 'users' }, subjectColumns: ['id'], path: 'p', action: { kind: 'delete' } },
    { table: { schema: 'shop', name: 'invoices' }, subjectColumns: ['user_id'], path: 'p', action: { kind: 'keep', reason: 'tax law: 10 years' } },
  ] as unknown as RequestHandler[];

  it('names the tables the catalog keeps and every active hold, once', () => {
    const out = exceptionsOf(request(), handlers, [{ id: 'hold_a', scope: 'table:shop.orders', basis: 'litigation', review: '2027-06-30' }]);
    expect(out).toEqual([kept, heldOrders]);
    expect(exceptionsOf(request({ exceptions: out }), handlers, [{ id: 'hold_a', scope: 'table:shop.orders', basis: 'litigation', review: '2027-06-30' }])).toEqual(out);
  });
});

describe('releasing holds', () => {
  const second: RequestException = { ...heldOrders, holdId: 'hold_b', basis: 'tax audit' };
  const active = (e: RequestException) => (e.kind === 'held' ? [{ id: e.holdId, scope: e.scope, basis: e.basis, review: e.review }] : []);

  it('follows a hold placed on a held table after the execution, once the first is released', () => {
    const r = request({ state: 'complete_with_exceptions', exceptions: [heldOrders] });
    const later = { id: 'hold_c', scope: 'table:shop.orders', basis: 'new claim', review: '2027-09-01' };
    const plan = releasePlan(r, new Set(['hold_a']), [later]);
    expect(plan).toEqual({ execute: false, exceptions: [{ ...heldOrders, released: true }, { kind: 'held', scope: 'table:shop.orders', holdId: 'hold_c', basis: 'new claim', review: '2027-09-01' }] });
    expect(nextState({ ...r, exceptions: plan.exceptions }, ['complete'], true)).toBe('complete_with_exceptions');
    expect(releasePlan({ ...r, exceptions: plan.exceptions }, new Set(['hold_c']), []).tables).toEqual(['shop.orders']);
  });

  it('erases a table again only once every hold on it is released, marking holds by id', () => {
    const r = request({ state: 'complete_with_exceptions', exceptions: [kept, heldOrders, second] });
    const one = releasePlan(r, new Set(['hold_a']), active(second));
    expect(one).toEqual({ execute: false, exceptions: [kept, { ...heldOrders, released: true }, second] });
    expect(nextState({ ...r, exceptions: one.exceptions }, ['complete'], true)).toBe('complete_with_exceptions');
    const both = releasePlan({ ...r, exceptions: one.exceptions }, new Set(['hold_b']), []);
    expect(both).toEqual({ execute: true, tables: ['shop.orders'], exceptions: [kept, { ...heldOrders, released: true }, { ...second, released: true }] });
  });

  it('waits for the earlier erasure to settle before erasing a released table, without losing the release, and executes all once the hold over everything goes', () => {
    const early = releasePlan(request({ state: 'propagating', exceptions: [heldOrders] }), new Set(['hold_a']), []);
    expect(early).toEqual({ execute: false, exceptions: [heldOrders] });
    expect(releasePlan(request({ state: 'complete_with_exceptions', exceptions: early.exceptions }), new Set(['hold_a']), [])).toEqual({ execute: true, tables: ['shop.orders'], exceptions: [{ ...heldOrders, released: true }] });
    const all: RequestException = { kind: 'held', scope: 'all', holdId: 'hold_all', basis: 'regulator', review: '2027-01-01' };
    expect(releasePlan(request({ state: 'complete_with_exceptions', exceptions: [all] }), new Set(['hold_all']), [])).toEqual({ execute: true, exceptions: [{ ...all, released: true }] });
  });
});

describe('the proof of a request', () => {
  const facts: ErasureFacts = { eventId: 'e-1', subjectType: 'user', subjectId: '42', requestId: 'req_abcdefghijklmnopqrstuvwxyz', operation: 'ANONYMIZE', sourceTable: 'shop.users', commitLsn: '0/10', commitTime: T0, related: [] };
  const expected: ExpectedTarget[] = [{ kind: 'sink', sink: 'redis', target: 'key user:{subject}', action: 'delete' }];
  const done = foldErasure({ facts, expected, acks: [{ eventId: 'e-1', subjectType: 'user', subjectId: '42', sink: 'redis', target: 'key user:{subject}', outcome: 'APPLIED', affected: 1, residual: 0, attempt: 1, replay: false, error: null, details: {}, at: T0 + 1000 }], confirmations: [], slaMs: 86_400_000, now: T0 + 2000 });

  it('starts from the request, says what was kept and why, and never says removed while a table is held', () => {
    const proof = requestProof(request({ state: 'complete_with_exceptions', exceptions: [kept, heldOrders] }), [{ from: null, to: 'received', actor: 'subject', reason: null, at: T0 }], [done], T0 + 3000);
    expect(proof.request).toBe('req_abcdefghijklmnopqrstuvwxyz');
    expect(proof.summary).toMatch(/^Request complete with exceptions: kept table shop\.invoices; table shop\.orders\./);
    expect(proof.kept).toEqual([
      { what: 'table shop.invoices', why: 'kept by the catalog: tax law: 10 years' },
      { what: 'table shop.orders', why: 'legal hold hold_a: litigation; review 2027-06-30' },
    ]);
    expect(proof.erasures[0]!.summary).not.toMatch(/^Removed/);
    expect(proof.history).toEqual([{ at: new Date(T0).toISOString(), from: null, to: 'received', by: 'subject', reason: null }]);
  });

  it('names a sink hold once, not again for each of its held targets, and never says removed', () => {
    const held = foldErasure({ facts, expected, acks: [{ eventId: 'e-1', subjectType: 'user', subjectId: '42', sink: 'redis', target: 'key user:{subject}', outcome: 'HELD', affected: 0, residual: 0, attempt: 1, replay: false, error: null, details: { hold: 'hold_s', basis: 'audit', review: '2027-01-31' }, at: T0 + 1000 }], confirmations: [], slaMs: 86_400_000, now: T0 + 2000 });
    const sinkHold: RequestException = { kind: 'held', scope: 'sink:redis', holdId: 'hold_s', basis: 'audit', review: '2027-01-31' };
    const proof = requestProof(request({ state: 'complete_with_exceptions', exceptions: [sinkHold] }), [], [held], T0 + 3000);
    expect(proof.kept).toEqual([{ what: 'sink redis', why: 'legal hold hold_s: audit; review 2027-01-31' }]);
    expect(proof.summary).toMatch(/^Request complete with exceptions: kept sink redis\. Not erased everywhere/);
  });

  it('a request not executed says nothing was erased for it', () => {
    expect(requestProof(request({ state: 'waiting' }), [], [], T0).summary).toBe('Request waiting: nothing has been erased for it.');
  });
});

describe('request mail', () => {
  it('carries ids, dates and links, never the address it goes to', () => {
    const r = request({ state: 'waiting', graceEndsAt: T0 + 14 * 86_400_000 });
    const receipt = composeMail({ request: r, kind: 'receipt', payload: {}, cancelUrl: 'https://privacy.example/public/requests/x/cancel?token=t' });
    expect(receipt.text).toContain('2026-12-15');
    expect(receipt.text).toContain('https://privacy.example/public/requests/x/cancel?token=t');
    const completion = composeMail({ request: r, kind: 'completion', payload: { summary: 'Request complete.' } });
    for (const mail of [receipt, completion, composeMail({ request: r, kind: 'denial', payload: { reason: 'no_such_subject' } })]) {
      expect(mail.text).not.toContain('ada@example.com');
      expect(mail.text).toContain(r.id);
    }
  });
});
