import { Kafka, logLevel, type Consumer, type KafkaConfig, type LogEntry } from 'kafkajs';
import type { Logger } from '../logger.js';
import { errorKind, LetheError, reasonOf, ServiceUnavailableError } from '../errors.js';

/**
 * How long a group waits for a member that stopped heartbeating (a SIGKILLed process) before its
 * partitions go to the others. A live member heartbeats every HEARTBEAT_MS, during long chunks and
 * outage waits too (GroupHeartbeat), so a short timeout evicts only the dead. A clean stop leaves
 * the group at once.
 */
export const SESSION_TIMEOUT_MS = 10_000;
export const HEARTBEAT_MS = 1_000;

/**
 * What one fetch of a Lethe consumer may bring (kafkajs's defaults are 10 MiB, 1 MiB per
 * partition): every fetched record is decoded into objects at once, several consumers run in
 * one process, and the process keeps within a small heap (README, "Memory"). A record batch
 * larger than this still comes whole: Kafka always returns the first one.
 */
export const FETCH_LIMITS = { maxBytes: 2 * 2 ** 20, maxBytesPerPartition: 512 * 2 ** 10 } as const;

/**
 * The one place Lethe builds a Kafka client. kafkajs has had no release since 2023; keeping its
 * construction (and its logging) here means a maintained client could replace it in one module.
 */
export function createKafka(options: { brokers: string[]; clientId: string; logger: Logger } & Partial<KafkaConfig>): Kafka {
  const { brokers, clientId, logger, ...rest } = options;
  const log = logger.child({ component: 'kafkajs' });
  return new Kafka({
    brokers,
    clientId,
    logLevel: logLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      // kafkajs logs carry broker and topic names, never record contents.
      const { message, ...fields } = entry.log;
      const level = entry.level <= logLevel.ERROR ? 'error' : entry.level === logLevel.WARN ? 'warn' : 'debug';
      log[level]({ namespace: entry.namespace, ...fields }, message);
    },
    ...rest,
  });
}

/**
 * The kind of what crashed a consumer: the first Lethe error in its cause chain (the edges already
 * decided), else the innermost cause (kafkajs wraps what the handler threw).
 */
export function crashKind(error: unknown): ReturnType<typeof errorKind> {
  let cause: unknown = error;
  for (let depth = 0; depth < 10 && cause instanceof Error; depth += 1) {
    if (cause instanceof LetheError) return errorKind(cause);
    if (!(cause.cause instanceof Error)) break;
    cause = cause.cause;
  }
  return errorKind(cause);
}

/**
 * kafkajs restarts a crashed consumer after its retries run out, whatever the handler threw; a bug
 * or a record Lethe could not dead-letter must end the service instead (it exits, non-zero), and
 * only an outage is restarted.
 */
export const CONSUMER_RETRY = { restartOnFailure: async (error: Error) => crashKind(error) === 'infrastructure' };

/** kafkajs's errors that say the broker is away (never what a handler's send was refused for). */
const OUTAGE_ERRORS = new Set(['KafkaJSGroupCoordinatorNotFound', 'KafkaJSBrokerNotFound', 'KafkaJSConnectionError', 'KafkaJSConnectionClosedError', 'KafkaJSRequestTimeoutError']);

/** Whether a crash is kafkajs giving up on a broker that is away (by the error or its first cause). */
function outageCrash(error: Error): boolean {
  let cause: unknown = error;
  for (let depth = 0; depth < 10 && cause instanceof Error; depth += 1) {
    if (OUTAGE_ERRORS.has(cause.name)) return true;
    cause = cause.cause;
  }
  return false;
}

/**
 * Resolves with the error when a consumer crashes for good. kafkajs restarts the consumer itself
 * after a retriable crash (only logged here). It does not after a non-retriable kafkajs error,
 * which an outage can still be (it gives up finding the group coordinator while the broker is
 * down, `OUTAGE_ERRORS`): such a crash goes to `rejoin` (connect and run again, waiting out the
 * broker), and only a failing `rejoin` ends it; a send refused for good (a record too large) is no
 * outage. After any other crash (a record or a bug) it stays down, and a service
 * waiting on this ends its run with the error, so `lethe run` exits non-zero to be restarted.
 */
export function whenCrashedForGood(consumer: Consumer, log: Logger, what: string, rejoin?: () => Promise<void>): Promise<Error> {
  return new Promise<Error>((resolve) => {
    consumer.on(consumer.events.CRASH, (event) => {
      const { error, restart } = event.payload;
      log.error({ err: String(error), restart }, `${what} crashed`);
      if (restart) return;
      if (rejoin && outageCrash(error)) {
        log.warn({ err: String(error) }, `${what}: kafkajs does not restart after this error; joining the group again`);
        rejoin().catch((e: unknown) => resolve(e instanceof Error ? e : new Error(String(e))));
        return;
      }
      resolve(error);
    });
  });
}

/**
 * kafkajs errors in one place. A broker unreachable, a leader election, a timeout, retries run out:
 * a wait (`ServiceUnavailableError('kafka')`). What the broker refuses for good (a record too
 * large, not authorized, an invalid record) is a `LetheError` that no retry helps.
 */
export function translateKafka(error: unknown, what: string): LetheError {
  if (error instanceof LetheError) return error;
  let cause: unknown = error;
  while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
  const refused = cause instanceof Error && cause.name === 'KafkaJSProtocolError' && (cause as { retriable?: boolean }).retriable === false;
  const message = `${what}: ${reasonOf(error)}${cause !== error ? ` (${reasonOf(cause)})` : ''}`;
  if (refused) return new LetheError('KAFKA_REFUSED', message, { cause: error });
  return new ServiceUnavailableError('kafka', message, { cause: error });
}
