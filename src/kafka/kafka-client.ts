import { Kafka, logLevel, type Consumer, type KafkaConfig, type LogEntry } from 'kafkajs';
import type { Logger } from '../logger.js';

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
 * Resolves with the error when a consumer crashes for good. kafkajs restarts the consumer itself
 * after a retriable crash (only logged here); after any other it stays down, and a service
 * waiting on this ends its run with the error, so `lethe run` exits non-zero to be restarted.
 */
export function whenCrashedForGood(consumer: Consumer, log: Logger, what: string): Promise<Error> {
  return new Promise<Error>((resolve) => {
    consumer.on(consumer.events.CRASH, (event) => {
      log.error({ err: String(event.payload.error), restart: event.payload.restart }, `${what} crashed`);
      if (!event.payload.restart) resolve(event.payload.error);
    });
  });
}
