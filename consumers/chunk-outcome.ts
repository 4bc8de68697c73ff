import type { IHeaders, KafkaMessage, Message } from 'kafkajs';
import type { DevLetheEvents as Acks } from '../schemas/generated/erasure-ack.js';
import { errorOf, outcomeOf, type AckOutcome, type TargetResult } from '../connectors/sink-connector.js';
import type { SubjectErased } from '../src/cdc/erasure-manifest.js';
import { NOT_BEFORE } from './retry-gate.js';

export type ErasureAck = Acks.ErasureAck;

export const ATTEMPT = 'lethe-attempt';

/** The attempt a retry-topic record is at (its attempt header); 1 when absent or malformed. */
export function attemptOf(message: Pick<KafkaMessage, 'headers'>): number {
  return Number(message.headers?.[ATTEMPT]?.toString() ?? 1) || 1;
}
/** On a deferred record: it was deferred by a replay, so its later acks keep the replay flag. */
export const REPLAY = 'lethe-replay';
export const DLQ_SINK = 'lethe-dlq-sink';
export const DLQ_REASON = 'lethe-dlq-reason';
export const DLQ_SOURCE = 'lethe-dlq-source';
export const DLQ_AT = 'lethe-dlq-at';
export const DLQ_EVENT = 'lethe-event-id';
/** Where a record was first read from the erasures topic; kept through dead letters and redrives. */
export const ORIGIN = 'lethe-origin';
/** On a retry-topic record `lethe dlq redrive` wrote: the dead letter it came from. */
export const REDRIVEN_FROM = 'lethe-redriven-from';

/** One record of a chunk, decoded or not. */
export interface ChunkItem {
  message: KafkaMessage;
  topic: string;
  partition: number;
  event?: SubjectErased;
  /** Set when the record is not an erasure event any registered schema reads (its own fault). */
  decodeError?: string;
}

export interface OutcomeContext {
  sink: string;
  /** This run is a replay: every ack carries the flag. */
  replay: boolean;
  deferredRetryMs: number;
  now?: () => number;
}

/**
 * What one chunk of erasure records comes to: an ack per event and target, the records to
 * dead-letter (the record's own fault, with the reason in headers) and the records to try again
 * later (a target deferred). Built from results only; the runner sends it. Pure.
 */
export class ChunkOutcome {
  readonly acks: ErasureAck[] = [];
  readonly dead: Message[] = [];
  readonly later: Message[] = [];

  constructor(private readonly context: OutcomeContext) {}

  private now(): number {
    return (this.context.now ?? Date.now)();
  }

  /** An item's acks carry the replay flag when this run is a replay or a replay deferred the item. */
  isReplay(item: ChunkItem): boolean {
    return this.context.replay || item.message.headers?.[REPLAY]?.toString() === '1';
  }

  /** The results of applying one event: its acks, and a dead letter or a deferral when a target says so. */
  applied(item: ChunkItem, results: readonly TargetResult[], attempt: number): void {
    const event = item.event!;
    for (const result of results) this.acks.push(this.ack(item, event, result, attempt));
    if (results.some((r) => outcomeOf(r) === 'DEFERRED')) this.defer(item, attempt);
    const failures = results.filter((r) => outcomeOf(r) === 'FAILED').map((r) => `${r.target}: ${errorOf(r)}`);
    if (failures.length > 0) this.deadLetter(item, failures.join('; '));
  }

  /** The event itself cannot be applied (the store refuses it): every target of the sink failed. */
  refused(item: ChunkItem, reason: string, attempt: number): void {
    this.deadLetter(item, reason);
    this.acks.push(this.ack(item, item.event!, { target: '*', affected: 0, residual: 0, failed: reason }, attempt));
  }

  /**
   * The subject is under a legal hold for this sink: nothing applied; each of the sink's targets
   * for the subject type is acked HELD, naming the hold (the oldest, when several apply).
   */
  held(item: ChunkItem, targets: readonly string[], hold: { id: string; basis: string; reviewAt: string }, attempt: number): void {
    const details = { hold: hold.id, basis: hold.basis, review: hold.reviewAt };
    for (const target of targets.length > 0 ? targets : ['*']) {
      this.acks.push({ ...this.ack(item, item.event!, { target, affected: 0, residual: 0, details }, attempt), outcome: 'HELD' });
    }
  }

  /** A record no registered schema reads: dead-lettered, and acked as failed under a synthetic id. */
  undecodable(item: ChunkItem): void {
    const [subjectType = 'unknown', ...rest] = (item.message.key?.toString() ?? 'unknown:').split(':');
    const reason = `undecodable record: ${item.decodeError}`;
    this.deadLetter(item, reason);
    // Named by where it first came from, so re-driving it again and again is still one erasure.
    const ids = { eventId: `undecodable:${originOf(item)}`, subjectType, subjectId: rest.join(':') };
    this.acks.push(this.ack(item, ids, { target: '*', affected: 0, residual: 0, failed: reason }, 1));
  }

  count(outcome: AckOutcome): number {
    return this.acks.filter((a) => a.outcome === outcome).length;
  }

  private ack(item: ChunkItem, event: Pick<SubjectErased, 'eventId' | 'subjectType' | 'subjectId'> & Partial<Pick<SubjectErased, 'part' | 'parts' | 'requestId'>>, result: TargetResult, attempt: number): ErasureAck {
    return {
      eventId: event.eventId,
      subjectType: event.subjectType,
      subjectId: event.subjectId,
      sink: this.context.sink,
      target: result.target,
      outcome: outcomeOf(result),
      affected: result.affected,
      residual: result.residual,
      attempt,
      replay: this.isReplay(item),
      error: errorOf(result),
      details: result.details ?? {},
      at: this.now(),
      // An event written before parts existed decodes without them: it is part 1 of 1.
      part: event.part ?? 1,
      parts: event.parts ?? 1,
      requestId: event.requestId ?? null,
    };
  }

  private defer(item: ChunkItem, attempt: number): void {
    this.later.push({
      key: item.message.key,
      value: item.message.value,
      headers: {
        [NOT_BEFORE]: String(this.now() + this.context.deferredRetryMs),
        [ATTEMPT]: String(attempt + 1),
        ...(this.isReplay(item) ? { [REPLAY]: '1' } : {}),
      },
    });
  }

  private deadLetter(item: ChunkItem, reason: string): void {
    const headers: IHeaders = { ...(item.message.headers ?? {}) };
    // A record re-driven from the dead-letter topic and failing again carries only the new facts.
    for (const name of [NOT_BEFORE, DLQ_REASON, DLQ_SOURCE, DLQ_AT, DLQ_EVENT, REDRIVEN_FROM]) delete headers[name];
    this.dead.push({
      key: item.message.key,
      value: item.message.value,
      headers: {
        ...headers,
        [DLQ_SINK]: this.context.sink,
        [DLQ_REASON]: reason.slice(0, 2000),
        [DLQ_SOURCE]: sourceOf(item),
        [ORIGIN]: originOf(item),
        [DLQ_AT]: String(this.now()),
        ...(item.event ? { [DLQ_EVENT]: item.event.eventId } : {}),
      },
    });
  }
}

export function originOf(item: Pick<ChunkItem, 'topic' | 'partition' | 'message'>): string {
  return item.message.headers?.[ORIGIN]?.toString() ?? sourceOf(item);
}

export function sourceOf(item: Pick<ChunkItem, 'topic' | 'partition' | 'message'>): string {
  return `${item.topic}/${item.partition}/${item.message.offset}`;
}
