import type { KafkaMessage } from 'kafkajs';

export const NOT_BEFORE = 'lethe-not-before';

/** When a retry-topic record is due: its not-before header (ms since the epoch); 0 when absent. */
export function notBeforeOf(message: Pick<KafkaMessage, 'headers'>): number {
  return Number(message.headers?.[NOT_BEFORE]?.toString() ?? 0) || 0;
}

/**
 * The retry topic's gate: records are due in order of their not-before time (each is written
 * `deferredRetryMs` after the last, or due at once when re-driven), so a batch is applied up to its
 * first record not yet due, and the partition pauses until that one is. Pure.
 */
export function dueRecords<M extends Pick<KafkaMessage, 'headers'>>(messages: readonly M[], now: number): { due: M[]; waitMs?: number } {
  const first = messages.findIndex((m) => notBeforeOf(m) > now);
  if (first === -1) return { due: [...messages] };
  return { due: messages.slice(0, first), waitMs: notBeforeOf(messages[first]!) - now };
}
