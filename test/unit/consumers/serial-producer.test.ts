import type { Producer, ProducerRecord, RecordMetadata } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { SerialProducer } from '../../../src/kafka/serial-producer.js';

/** A stand-in for a kafkajs producer: records each send, fails the ones the test names. */
function fakeProducer(id: number, log: string[], failing: Set<string>): Producer {
  let inFlight = 0;
  const producer = {
    connect: async () => void log.push(`p${id} connect`),
    disconnect: async () => void log.push(`p${id} disconnect`),
    send: async (record: ProducerRecord): Promise<RecordMetadata[]> => {
      inFlight += 1;
      if (inFlight > 1) log.push('two sends at once');
      const what = String(record.messages[0]!.value);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight -= 1;
      if (failing.delete(what)) throw new Error(`broker gone while sending ${what}`);
      log.push(`p${id} sent ${what} acks=${record.acks}`);
      return [];
    },
  };
  return producer as unknown as Producer;
}

describe('SerialProducer', () => {
  it('sends one batch at a time in the order asked, and after a failure sends through a new producer only', async () => {
    const log: string[] = [];
    const failing = new Set(['b']);
    let made = 0;
    const producer = new SerialProducer(() => fakeProducer(++made, log, failing));
    await producer.connect();
    const sends = ['a', 'b', 'c', 'd'].map((v) => producer.send('acks', [{ value: v }]));
    const results = await Promise.allSettled(sends);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason.message).toMatch(/producing to acks/);
    // c was asked for while b was in flight: it still goes out through the new producer, never the old one.
    expect(log).toEqual(['p1 connect', 'p1 sent a acks=-1', 'p1 disconnect', 'p2 connect', 'p2 sent c acks=-1', 'p2 sent d acks=-1']);
  });
});
