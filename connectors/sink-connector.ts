import type { DevLetheEvents as Acks } from '../schemas/generated/erasure-ack.js';
import type { SubjectErased } from '../src/cdc/erasure-manifest.js';
import type { SinkName } from '../src/catalog/sinks.js';

export type AckOutcome = Acks.AckOutcome;

/** What a connector did for one target of one event, after applying and verifying. */
export interface TargetResult {
  /** The target within the sink, e.g. 'key user:{subject}', 'index users'. */
  target: string;
  /** Keys, documents, rows or tombstones erased or anonymized. */
  affected: number;
  /** What verification still found of the subject afterwards. */
  residual: number;
  /** Set when the store cannot change the data yet (a later retry will). */
  deferred?: string;
  /** Set when this target cannot be erased as configured (a permanent failure). */
  failed?: string;
  details?: Record<string, string>;
}

/**
 * The one interface every destination implements: apply a batch of erasures, verify what
 * remains, close. The consumer-group runner owns batching, retries, dead-lettering, acks and
 * offsets. A connector throws for trouble worth retrying (the batch is retried whole) and
 * returns `failed` for what no retry can fix.
 */
export interface SinkConnector {
  readonly sink: SinkName | 'primary';
  /** Whether this sink has targets for the subject type. */
  handles(subjectType: string): boolean;
  /**
   * Batching by size or time for stores that want few large statements: the broker holds a
   * fetch until `minBytes` are available or `maxWaitMs` has passed.
   */
  readonly fetch?: { minBytes: number; maxWaitMs: number };
  /** How many events one apply may take, when the store wants other than `sinks.settings.maxBatchEvents`. */
  readonly batchEvents?: number;
  /** One list of target results per event, in the order of `events`. Idempotent. */
  apply(events: readonly SubjectErased[]): Promise<TargetResult[][]>;
  close(): Promise<void>;
}

/** The ack outcome a target result means. Pure. */
export function outcomeOf(result: TargetResult): AckOutcome {
  if (result.failed !== undefined) return 'FAILED';
  if (result.deferred !== undefined) return 'DEFERRED';
  // Verification is the judge: whatever was done, data still found means the erasure failed.
  if (result.residual > 0) return 'FAILED';
  return result.affected > 0 ? 'APPLIED' : 'NOTHING_TO_DO';
}

/** The error text an ack carries for a result, if any. */
export function errorOf(result: TargetResult): string | null {
  if (result.failed !== undefined) return result.failed;
  if (result.deferred !== undefined) return result.deferred;
  if (result.residual > 0) return `verification found ${result.residual} remaining after applying`;
  return null;
}
