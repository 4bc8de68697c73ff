import { LetheError } from '../errors.js';

/**
 * The message of an error and its causes, on one line: drivers wrap the reason (kafkajs gives up
 * with a KafkaJSNumberOfRetriesExceeded around the connection error). A cause whose message an
 * outer one already contains is not repeated.
 */
export function messageOf(error: unknown): string {
  const messages: string[] = [];
  for (const e of causesOf(error)) {
    const message = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').trim();
    if (message && !messages.some((m) => m.includes(message))) messages.push(message);
  }
  return messages.join(': ') || (error instanceof Error ? error.name : 'unknown error');
}

/**
 * What a failed command prints: a LetheError by its code (its message names the service, the
 * option or the catalog path); anything else, on one line, by the command that ran into it, and
 * by Kafka when kafkajs raised it (its connection errors name the broker).
 */
export function failureLine(error: unknown, command: string | undefined): string {
  if (error instanceof LetheError) return `lethe: ${error.code}: ${error.message}`;
  const kafka = causesOf(error).some((e) => e instanceof Error && e.name.startsWith('KafkaJS'));
  return `lethe: ${command ?? 'lethe'}: ${kafka ? 'kafka: ' : ''}${messageOf(error)}`;
}

function causesOf(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = error; e !== undefined && e !== null && chain.length < 5; e = (e as { cause?: unknown }).cause) chain.push(e);
  return chain;
}
