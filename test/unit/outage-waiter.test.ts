import { describe, expect, it } from 'vitest';
import { InvariantError, RecordError, ServiceUnavailableError } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import { OutageWaiter, serviceOf, type Outage } from '../../src/outage-waiter.js';

function waiter() {
  const waiting: Outage[] = [];
  const recovered: Array<{ outage: Outage; waitedMs: number }> = [];
  const report = { waiting: (o: Outage) => waiting.push(o), recovered: (outage: Outage, waitedMs: number) => recovered.push({ outage, waitedMs }) };
  return { waiting, recovered, waiter: new OutageWaiter({ initialDelayMs: 1, maxDelayMs: 5, logger: createLogger({ level: 'silent' }), report }) };
}

describe('OutageWaiter', () => {
  it('waits out an infrastructure error until the work succeeds, reporting the wait once and the recovery once', async () => {
    const { waiter: w, waiting, recovered } = waiter();
    const attempts: number[] = [];
    const result = await w.run('erasing', async (attempt) => {
      attempts.push(attempt);
      if (attempt < 6) throw new ServiceUnavailableError('elasticsearch', `connect ECONNREFUSED (try ${attempt})`);
      return 'done';
    }, new AbortController().signal);
    expect(result).toBe('done');
    expect(attempts).toEqual([1, 2, 3, 4, 5, 6]);
    expect(waiting).toHaveLength(1);
    expect(waiting[0]).toMatchObject({ service: 'elasticsearch', reason: 'elasticsearch: connect ECONNREFUSED (try 1)' });
    expect(recovered).toHaveLength(1);
    expect(recovered[0]!.outage).toBe(waiting[0]);
    expect(recovered[0]!.waitedMs).toBeGreaterThanOrEqual(0);
  });

  it('reports nothing when the work succeeds at once, and starts over from the initial delay on each run', async () => {
    const { waiter: w, waiting, recovered } = waiter();
    expect(await w.run('x', async () => 1, new AbortController().signal)).toBe(1);
    expect(waiting).toEqual([]);
    expect(recovered).toEqual([]);
    let fails = 1;
    await w.run('x', async () => {
      if (fails-- > 0) throw new Error('socket hang up');
    }, new AbortController().signal);
    // An error no edge translated waits too, for a server it cannot name.
    expect(waiting.map((o) => o.service)).toEqual(['unknown']);
    expect(recovered).toHaveLength(1);
  });

  it("throws the record's own error and a programmer error at once, without trying again or reporting a wait", async () => {
    for (const error of [new RecordError('UNDECODABLE', 'no magic byte'), new InvariantError('broken'), new TypeError('x is undefined')]) {
      const { waiter: w, waiting } = waiter();
      let attempts = 0;
      await expect(
        w.run('x', async () => {
          attempts += 1;
          throw error;
        }, new AbortController().signal),
      ).rejects.toBe(error);
      expect(attempts, error.name).toBe(1);
      expect(waiting).toEqual([]);
    }
  });

  it('an abort cuts a wait short with its reason', async () => {
    const w = new OutageWaiter({ initialDelayMs: 60_000, maxDelayMs: 60_000, logger: createLogger({ level: 'silent' }) });
    const controller = new AbortController();
    const stop = new Error('stopping');
    const started = Date.now();
    let attempts = 0;
    const running = w.run('x', async () => {
      attempts += 1;
      setImmediate(() => controller.abort(stop));
      throw new ServiceUnavailableError('redis', 'down');
    }, controller.signal);
    await expect(running).rejects.toBe(stop);
    expect(attempts).toBe(1);
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('does not start work on a signal already aborted', async () => {
    const { waiter: w } = waiter();
    const controller = new AbortController();
    controller.abort(new Error('gone'));
    let called = false;
    await expect(w.run('x', async () => void (called = true), controller.signal)).rejects.toThrow('gone');
    expect(called).toBe(false);
  });
});

describe('serviceOf', () => {
  it('names the server of a translated error, kafka for a raw kafkajs error, else unknown', () => {
    expect(serviceOf(new ServiceUnavailableError('schema-registry', 'x'))).toBe('schema-registry');
    expect(serviceOf(Object.assign(new Error('x'), { name: 'KafkaJSConnectionError' }))).toBe('kafka');
    expect(serviceOf(new Error('x'))).toBe('unknown');
    expect(serviceOf('x')).toBe('unknown');
  });
});
