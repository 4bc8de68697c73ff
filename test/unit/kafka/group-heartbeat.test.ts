import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { InvariantError, RecordError, ServiceUnavailableError } from '../../../src/errors.js';
import { GroupHeartbeat } from '../../../src/kafka/group-heartbeat.js';
import { crashKind } from '../../../src/kafka/kafka-client.js';
import { createLogger } from '../../../src/logger.js';

const log = createLogger({ level: 'silent' });
const until = async (done: () => boolean) => {
  for (let i = 0; i < 200 && !done(); i += 1) await new Promise((resolve) => setTimeout(resolve, 5));
};

describe('GroupHeartbeat', () => {
  it('a rebalance answer makes the chunk stale at once', async () => {
    const beat = new GroupHeartbeat(async () => Promise.reject(Object.assign(new Error('rebalancing'), { type: 'REBALANCE_IN_PROGRESS' })), 1, log);
    await until(() => beat.stale.signal.aborted);
    beat.stop();
    expect(beat.stale.signal.aborted).toBe(true);
  });

  it('Kafka away is tolerated within the lease, and stale once a session timeout passed without a heartbeat', async () => {
    const away = async () => Promise.reject(new Error('connect ECONNREFUSED'));
    const patient = new GroupHeartbeat(away, 1, log, 60_000);
    await new Promise((resolve) => setTimeout(resolve, 30));
    patient.stop();
    expect(patient.stale.signal.aborted).toBe(false);
    const lease = new GroupHeartbeat(away, 1, log, 20);
    await until(() => lease.stale.signal.aborted);
    lease.stop();
    expect(lease.stale.signal.aborted).toBe(true);
  });
});

describe('crashKind', () => {
  it('restarts a consumer only for an outage: a bug or an unsendable record inside kafkajs wrappers ends it', () => {
    const { KafkaJSNumberOfRetriesExceeded, KafkaJSConnectionError } = kafkajs;
    expect(crashKind(new KafkaJSNumberOfRetriesExceeded(new InvariantError('broken'), { retryCount: 5, retryTime: 1 } as never))).toBe('programmer');
    expect(crashKind(new KafkaJSNumberOfRetriesExceeded(new TypeError('x is undefined'), { retryCount: 5, retryTime: 1 } as never))).toBe('programmer');
    expect(crashKind(new KafkaJSNumberOfRetriesExceeded(new RecordError('KAFKA_REFUSED', 'too large', { cause: new Error('inner') }), { retryCount: 5, retryTime: 1 } as never))).toBe('record');
    expect(crashKind(new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError('refused'), { retryCount: 5, retryTime: 1 } as never))).toBe('infrastructure');
    expect(crashKind(new ServiceUnavailableError('kafka', 'down', { cause: new TypeError('inner') }))).toBe('infrastructure');
  });
});
