import type { Catalog } from '../catalog/catalog.js';
import { sinkTargetsOf } from '../catalog/targets.js';
import { foldTargetParts, partOf, STATE_OF } from './ack-folding.js';

export { laterAck, mergePartFacts, standingAck } from './ack-folding.js';

/**
 * How acknowledgements fold into the status of one erasure. Pure: the same facts, acks and
 * confirmations give the same status whatever order they arrived in and however often each
 * was delivered, so the tracker can refold from its store at any time.
 */

/** `held`: every target settled, at least one kept under a legal hold (nothing failed, nothing open). */
export const ERASURE_STATES = ['pending', 'partial', 'complete', 'failed', 'deferred', 'overdue', 'held'] as const;
export type ErasureState = (typeof ERASURE_STATES)[number];
/** `held`: not erased because of a legal hold; settled (not open, not failed), never "removed". */
export type TargetState = 'pending' | 'applied' | 'nothing_to_do' | 'deferred' | 'failed' | 'held' | 'confirmed' | 'retained' | 'expired';
export type AckOutcome = 'APPLIED' | 'NOTHING_TO_DO' | 'DEFERRED' | 'FAILED' | 'HELD';

/** What the erasure event said, minus the personal data it never carries. */
export interface ErasureFacts {
  eventId: string;
  subjectType: string;
  subjectId: string;
  requestId: string | null;
  operation: 'DELETE' | 'ANONYMIZE';
  sourceTable: string;
  commitLsn: string;
  commitTime: number;
  /** Rows of related tables erased with the subject, counted by table and operation. */
  related: Array<{ table: string; operation: 'DELETE' | 'UPDATE'; rows: number }>;
  /** For one part of an erasure sent in parts: which (1-based). Absent in merged facts. */
  part?: number;
  /** How many parts the erasure was sent as, when more than one (absent: 1). */
  parts?: number;
}

/** A target an erasure must account for, fixed when the tracker first sees the erasure. */
export type ExpectedTarget =
  | { kind: 'sink'; sink: string; target: string; action: string }
  | { kind: 'manual'; sink: 'manual'; target: string; owner: string; action: string }
  | { kind: 'backup'; sink: 'backup'; target: string; retentionMs: number; onRestore?: string };

export interface AckRecord {
  eventId: string;
  subjectType: string;
  subjectId: string;
  sink: string;
  target: string;
  outcome: AckOutcome;
  affected: number;
  residual: number;
  attempt: number;
  replay: boolean;
  error: string | null;
  details: Record<string, string>;
  at: number;
  /** The part of the event acknowledged, and how many it has (absent in acks before parts: 1 of 1). */
  part?: number;
  parts?: number;
  /** The privacy request the event executed, copied from it by the sink (absent in older acks). */
  requestId?: string | null;
}

export interface Confirmation {
  eventId: string;
  system: string;
  /** Who says they did it: free text. */
  by: string;
  note: string;
  at: number;
  /**
   * Who was authenticated when it was recorded: `token:<name>` (the API), `cli:<OS user>` (`lethe
   * confirm`, trusted by its database access); null for confirmations from before that was kept.
   */
  via?: string | null;
}

export interface TargetStatus {
  /** 'replay': a store only ever reached by replay (the restored primary), not an active target. */
  kind: ExpectedTarget['kind'] | 'replay';
  sink: string;
  target: string;
  state: TargetState;
  /** What the target is for: the sink's action, a manual system's instructions. */
  action?: string;
  owner?: string;
  affected: number;
  residual: number;
  attempt: number;
  /** When the state was reached: the ack, the confirmation; for a backup, when it stops holding the data. */
  at: number | null;
  error: string | null;
  details: Record<string, string>;
  confirmedBy?: string;
  /** Who was authenticated for the confirmation (see Confirmation.via). */
  confirmedVia?: string | null;
  note?: string;
  /** A backup holds the subject's data until then. */
  heldUntil?: number;
  onRestore?: string;
  /** Replays after a restore: how many were acknowledged, and the last. */
  replays: number;
  lastReplay?: { outcome: AckOutcome; affected: number; residual: number; at: number };
  /** Not declared in the catalog when the erasure was first seen (the catalog changed since). */
  unexpected?: boolean;
  /** For an erasure sent in parts: how many parts this target has done. */
  parts?: { done: number; total: number };
}

export interface TimelineEntry {
  at: number;
  what: 'committed' | 'ack' | 'replay' | 'confirmed';
  sink?: string;
  target?: string;
  outcome?: AckOutcome;
  affected?: number;
  residual?: number;
  attempt?: number;
  /** The part an ack is for, for an erasure sent in parts. */
  part?: number;
  /** A HELD ack's hold id. */
  hold?: string;
  /** The privacy request an ack names. */
  requestId?: string;
  by?: string;
  via?: string | null;
  note?: string;
  error?: string | null;
}

export interface ErasureStatus {
  eventId: string;
  subjectType: string;
  subjectId: string;
  /** False while only acks are known: the erasure event itself has not been read yet. */
  known: boolean;
  facts: ErasureFacts | null;
  status: ErasureState;
  dueAt: number | null;
  completedAt: number | null;
  targets: TargetStatus[];
  timeline: TimelineEntry[];
  /** `held`: targets kept under a legal hold (absent in statuses folded before holds existed). */
  counts: { targets: number; done: number; pending: number; failed: number; deferred: number; held?: number };
}

/** The targets the catalog declares for a subject type: every sink target, manual system and backup. */
export function expectedTargetsOf(catalog: Pick<Catalog, 'sinks' | 'manual' | 'backups'>, subjectType: string): ExpectedTarget[] {
  const applies = (subjects?: string[]) => !subjects || subjects.includes(subjectType);
  return [
    ...sinkTargetsOf(catalog.sinks, subjectType).map((t): ExpectedTarget => ({ kind: 'sink', ...t })),
    ...catalog.manual.filter((m) => applies(m.subjects)).map((m): ExpectedTarget => ({ kind: 'manual', sink: 'manual', target: m.name, owner: m.owner, action: m.action })),
    ...catalog.backups
      .filter((b) => applies(b.subjects))
      .map((b): ExpectedTarget => ({ kind: 'backup', sink: 'backup', target: b.name, retentionMs: b.retentionMs, ...(b.onRestore ? { onRestore: b.onRestore } : {}) })),
  ];
}

const DONE: ReadonlySet<TargetState> = new Set(['applied', 'nothing_to_do', 'confirmed']);

export interface FoldInput {
  /** Null while the erasure event has not been read; the ids then come from the acks. */
  facts: ErasureFacts | null;
  subject?: { eventId: string; subjectType: string; subjectId: string };
  expected: readonly ExpectedTarget[];
  acks: readonly AckRecord[];
  confirmations: readonly Confirmation[];
  slaMs: number;
  now: number;
}

export function foldErasure(input: FoldInput): ErasureStatus {
  const { facts, expected, slaMs, now } = input;
  const ids = facts ?? input.subject ?? input.acks[0] ?? { eventId: 'unknown', subjectType: 'unknown', subjectId: '' };
  const acks = dedupeAcks(input.acks);
  const key = (sink: string, target: string) => `${sink}\u0000${target}`;

  const targets = new Map<string, TargetStatus>();
  for (const e of expected) {
    const base: TargetStatus = { kind: e.kind, sink: e.sink, target: e.target, state: 'pending', affected: 0, residual: 0, attempt: 0, at: null, error: null, details: {}, replays: 0 };
    if (e.kind === 'sink') base.action = e.action;
    if (e.kind === 'manual') Object.assign(base, { action: e.action, owner: e.owner });
    if (e.kind === 'backup') {
      base.state = 'retained';
      if (e.onRestore) base.onRestore = e.onRestore;
      if (facts) {
        base.heldUntil = facts.commitTime + e.retentionMs;
        base.at = base.heldUntil;
        if (now >= base.heldUntil) base.state = 'expired';
      }
    }
    targets.set(key(e.sink, e.target), base);
  }

  // The live outcome of each target is its standing ack. An ack for '*' (an undecodable record,
  // a batch that failed on every attempt) speaks for every target of its sink.
  const live = new Map<string, AckRecord[]>();
  for (const ack of acks.filter((a) => !a.replay)) {
    const names =
      ack.target === '*'
        ? [...targets.values()].filter((t) => t.kind === 'sink' && t.sink === ack.sink).map((t) => key(t.sink, t.target))
        : [key(ack.sink, ack.target)];
    if (names.length === 0) names.push(key(ack.sink, ack.target));
    for (const name of names) live.set(name, [...(live.get(name) ?? []), ack]);
  }
  for (const [name, list] of live) {
    const outcome = foldTargetParts(list, facts?.parts ?? 1);
    let t = targets.get(name);
    if (!t) {
      const [sink, target] = name.split('\u0000') as [string, string];
      t = { kind: 'sink', sink, target, state: 'pending', affected: 0, residual: 0, attempt: 0, at: null, error: null, details: {}, replays: 0, unexpected: true };
      targets.set(name, t);
    }
    Object.assign(t, outcome);
  }
  for (const ack of acks.filter((a) => a.replay)) {
    let t = targets.get(key(ack.sink, ack.target));
    if (!t) {
      t = { kind: 'replay', sink: ack.sink, target: ack.target, state: STATE_OF[ack.outcome], affected: 0, residual: 0, attempt: 0, at: null, error: null, details: {}, replays: 0 };
      targets.set(key(ack.sink, ack.target), t);
    }
    t.replays += 1;
    if (!t.lastReplay || ack.at >= t.lastReplay.at) {
      t.lastReplay = { outcome: ack.outcome, affected: ack.affected, residual: ack.residual, at: ack.at };
      if (t.kind === 'replay') Object.assign(t, { state: STATE_OF[ack.outcome], affected: ack.affected, residual: ack.residual, at: ack.at, error: ack.error });
    }
  }

  // A manual system is confirmed once; the first confirmation is the record.
  const confirmations = [...input.confirmations].sort((a, b) => a.at - b.at || a.by.localeCompare(b.by));
  for (const c of confirmations) {
    const t = targets.get(key('manual', c.system));
    if (!t || t.state === 'confirmed') continue;
    Object.assign(t, { state: 'confirmed', at: c.at, confirmedBy: c.by, confirmedVia: c.via ?? null, note: c.note });
  }

  const list = [...targets.values()];
  const active = list.filter((t) => t.kind === 'sink' || t.kind === 'manual');
  const counts = {
    targets: active.length,
    done: active.filter((t) => DONE.has(t.state)).length,
    pending: active.filter((t) => t.state === 'pending').length,
    failed: active.filter((t) => t.state === 'failed').length,
    deferred: active.filter((t) => t.state === 'deferred').length,
    held: active.filter((t) => t.state === 'held').length,
  };
  const dueAt = facts ? facts.commitTime + slaMs : null;
  let status: ErasureState;
  let completedAt: number | null = null;
  // Without the event, a failed ack still counts: an undecodable erasure record that every sink
  // dead-lettered must show as failed, not wait as pending forever.
  if (counts.failed > 0) status = 'failed';
  else if (!facts) status = 'pending';
  else if (counts.held > 0 && counts.done + counts.held === counts.targets) status = 'held';
  else if (counts.done === counts.targets) {
    status = 'complete';
    completedAt = Math.max(facts.commitTime, ...active.map((t) => t.at ?? 0));
  } else if (dueAt !== null && now >= dueAt) status = 'overdue';
  else if (counts.deferred > 0) status = 'deferred';
  else if (counts.done > 0) status = 'partial';
  else status = 'pending';

  return {
    eventId: ids.eventId,
    subjectType: ids.subjectType,
    subjectId: ids.subjectId,
    known: facts !== null,
    facts,
    status,
    dueAt,
    completedAt,
    targets: list,
    timeline: timelineOf(facts, acks, confirmations),
    counts,
  };
}

/**
 * When a folded status next changes with time alone, after `now`: an open erasure becomes overdue
 * at its due time; a backup stops holding the data when its retention ends (complete erasures
 * included, so the report never shows a past "until"). Null when only a new fact can change it.
 */
export function nextChangeAt(s: ErasureStatus, now: number): number | null {
  const times: number[] = [];
  if (s.dueAt !== null && OPEN.has(s.status)) times.push(s.dueAt);
  for (const t of s.targets) if (t.kind === 'backup' && t.state === 'retained' && t.heldUntil !== undefined) times.push(t.heldUntil);
  const future = times.filter((t) => t > now);
  // A time already past that the fold did not act on cannot recur: refolding would not change it.
  return future.length > 0 ? Math.min(...future) : null;
}

const OPEN: ReadonlySet<ErasureState> = new Set(['pending', 'partial', 'deferred']);

/** The same ack delivered twice (a redelivered batch) is one ack. */
function dedupeAcks(acks: readonly AckRecord[]): AckRecord[] {
  const seen = new Map<string, AckRecord>();
  for (const a of acks) seen.set(JSON.stringify([a.sink, a.target, partOf(a), a.attempt, a.replay, a.outcome, a.at, a.affected, a.residual]), a);
  return [...seen.values()];
}

function timelineOf(facts: ErasureFacts | null, acks: AckRecord[], confirmations: Confirmation[]): TimelineEntry[] {
  const entries: TimelineEntry[] = [];
  if (facts) entries.push({ at: facts.commitTime, what: 'committed' });
  for (const a of acks) {
    entries.push({
      at: a.at,
      what: a.replay ? 'replay' : 'ack',
      sink: a.sink,
      target: a.target,
      outcome: a.outcome,
      affected: a.affected,
      residual: a.residual,
      attempt: a.attempt,
      ...((a.parts ?? 1) > 1 ? { part: partOf(a) } : {}),
      ...(a.outcome === 'HELD' && a.details.hold ? { hold: a.details.hold } : {}),
      ...(a.requestId ? { requestId: a.requestId } : {}),
      error: a.error,
    });
  }
  for (const c of confirmations) entries.push({ at: c.at, what: 'confirmed', sink: 'manual', target: c.system, by: c.by, via: c.via ?? null, note: c.note });
  const order = { committed: 0, ack: 1, replay: 2, confirmed: 3 };
  return entries.sort(
    (a, b) =>
      a.at - b.at ||
      order[a.what] - order[b.what] ||
      `${a.sink}/${a.target}/${a.attempt}/${a.outcome}`.localeCompare(`${b.sink}/${b.target}/${b.attempt}/${b.outcome}`) ||
      (a.part ?? 1) - (b.part ?? 1),
  );
}

/** Dashboards list what needs a person first: overdue, failed, then work in flight, then done. */
export const STATE_URGENCY: Record<ErasureState, number> = { overdue: 0, failed: 1, deferred: 2, pending: 3, partial: 4, held: 5, complete: 6 };
