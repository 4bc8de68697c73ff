import { EventEmitter } from 'node:events';
import type { Consumer } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { RecordError } from '../../../src/errors.js';
import { whenCrashedForGood } from '../../../src/kafka/kafka-client.js';
import { createLogger } from '../../../src/logger.js';

/** A consumer that only emits crashes, as kafkajs does after it has disconnected. */
function crashingConsumer() {
  const emitter = new EventEmitter();
  const consumer = { events: { CRASH: 'consumer.crash' }, on: (name: string, listener: (e: unknown) => void) => emitter.on(name, listener) } as unknown as Consumer;
  return { consumer, crash: (error: Error, restart: boolean) => emitter.emit('consumer.crash', { payload: { error, restart } }) };
}

const log = createLogger({ level: 'silent' });
const coordinatorNotFound = () => Object.assign(new Error('Failed to find group coordinator'), { name: 'KafkaJSGroupCoordinatorNotFound', retriable: false });
const settledWithin = async (p: Promise<unknown>) => Promise.race([p.then(() => 'settled'), new Promise((resolve) => setTimeout(() => resolve('pending'), 20))]);

describe('a consumer crash', () => {
  it('that kafkajs does not restart from but is an outage joins the group again, and is not the end', async () => {
    const { consumer, crash } = crashingConsumer();
    let rejoins = 0;
    const ended = whenCrashedForGood(consumer, log, 'test consumer', async () => void (rejoins += 1));
    crash(coordinatorNotFound(), false);
    await new Promise((resolve) => setImmediate(resolve));
    expect(rejoins).toBe(1);
    expect(await settledWithin(ended)).toBe('pending');
    // One kafkajs restarts itself is only logged.
    crash(Object.assign(new Error('connection lost'), { retriable: true }), true);
    expect(rejoins).toBe(1);
    expect(await settledWithin(ended)).toBe('pending');
  });

  it("of a record's or a failed rejoin ends the service with its error", async () => {
    const record = crashingConsumer();
    const endedByRecord = whenCrashedForGood(record.consumer, log, 'test consumer', async () => undefined);
    const poison = new RecordError('UNDECODABLE', 'no schema reads it');
    record.crash(poison, false);
    expect(await endedByRecord).toBe(poison);
    // A send the broker refuses for good (MESSAGE_TOO_LARGE) is no outage either.
    const refusedSend = crashingConsumer();
    const endedByRefusal = whenCrashedForGood(refusedSend.consumer, log, 'test consumer', async () => undefined);
    const tooLarge = Object.assign(new Error('The request included a message larger than the max message size the server will accept'), { name: 'KafkaJSProtocolError', retriable: false });
    refusedSend.crash(tooLarge, false);
    expect(await endedByRefusal).toBe(tooLarge);

    const rejoinFails = crashingConsumer();
    const refused = new Error('still down');
    const endedByRejoin = whenCrashedForGood(rejoinFails.consumer, log, 'test consumer', () => Promise.reject(refused));
    rejoinFails.crash(coordinatorNotFound(), false);
    expect(await endedByRejoin).toBe(refused);
    // Without a way to rejoin, the crash is the end.
    const alone = crashingConsumer();
    const endedAlone = whenCrashedForGood(alone.consumer, log, 'test consumer');
    const error = coordinatorNotFound();
    alone.crash(error, false);
    expect(await endedAlone).toBe(error);
  });
});
