import { describe, expect, it } from 'vitest';
import { ChunkPipeline, type ChunkStages } from '../../../consumers/chunk-pipeline.js';

/** A promise settled from outside: stages that finish when the test says so. */
function gate(): { promise: Promise<void>; open: () => void; fail: (e: Error) => void } {
  let open!: () => void;
  let fail!: (e: Error) => void;
  const promise = new Promise<void>((resolve, reject) => ((open = resolve), (fail = reject)));
  return { promise, open, fail };
}

/** Lets every pending continuation run (no timers: the pipeline's own promise chains only). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

interface Probe {
  log: string[];
  gates: { prepare: ReturnType<typeof gate>; apply: ReturnType<typeof gate>; finish: ReturnType<typeof gate> };
  stages: ChunkStages<void, void>;
}

function probe(name: string, log: string[]): Probe {
  const gates = { prepare: gate(), apply: gate(), finish: gate() };
  const stage = (what: 'prepare' | 'apply' | 'finish') => async () => {
    log.push(`${name} ${what}`);
    await gates[what].promise;
    log.push(`${name} ${what} done`);
  };
  return { log, gates, stages: { prepare: stage('prepare'), apply: stage('apply'), finish: stage('finish') } };
}

describe('ChunkPipeline', () => {
  it("applies in order, overlaps a chunk's finish with the next chunk's apply, and finishes in order", async () => {
    const log: string[] = [];
    const pipeline = new ChunkPipeline(3);
    const [a, b, c] = ['a', 'b', 'c'].map((n) => probe(n, log)) as [Probe, Probe, Probe];
    for (const p of [a, b, c]) {
      expect(await pipeline.room()).toBe(true);
      pipeline.start(p.stages);
    }
    // Every chunk prepares at once (decode, holds); none applies before a's apply is done.
    for (const p of [a, b, c]) p.gates.prepare.open();
    await settle();
    expect(log.filter((l) => l.endsWith(' apply'))).toEqual(['a apply']);
    a.gates.apply.open();
    await settle();
    // a's acks are being sent while b is applied.
    expect(log.slice(-2).sort()).toEqual(['a finish', 'b apply']);
    // b applied before a finished: b's finish still waits for a's.
    b.gates.apply.open();
    b.gates.finish.open();
    await settle();
    expect(log).not.toContain('b finish');
    expect(log).toContain('c apply');
    a.gates.finish.open();
    c.gates.apply.open();
    c.gates.finish.open();
    await pipeline.drain();
    const finished = log.filter((l) => l.endsWith('finish done'));
    expect(finished).toEqual(['a finish done', 'b finish done', 'c finish done']);
    const applied = log.filter((l) => l.endsWith('apply done'));
    expect(applied).toEqual(['a apply done', 'b apply done', 'c apply done']);
  });

  it('keeps at most `limit` chunks in flight', async () => {
    const pipeline = new ChunkPipeline(2);
    const log: string[] = [];
    const [a, b, c] = ['a', 'b', 'c'].map((n) => probe(n, log)) as [Probe, Probe, Probe];
    await pipeline.room();
    pipeline.start(a.stages);
    await pipeline.room();
    pipeline.start(b.stages);
    let roomForC = false;
    const waiting = pipeline.room().then((ok) => (roomForC = ok));
    for (const g of Object.values(b.gates)) g.open();
    await settle();
    // b is done with its stages but cannot finish before a: still two in flight.
    expect(roomForC).toBe(false);
    for (const g of Object.values(a.gates)) g.open();
    await waiting;
    expect(roomForC).toBe(true);
    pipeline.start(c.stages);
    for (const g of Object.values(c.gates)) g.open();
    await pipeline.drain();
    expect(log.filter((l) => l.endsWith('finish done'))).toEqual(['a finish done', 'b finish done', 'c finish done']);
  });

  it('abandons every later chunk when one fails: none of them applied after it nor finished; earlier ones finish', async () => {
    const log: string[] = [];
    const pipeline = new ChunkPipeline(4);
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => probe(n, log)) as [Probe, Probe, Probe, Probe];
    for (const p of [a, b, c, d]) pipeline.start(p.stages);
    for (const p of [a, b, c, d]) p.gates.prepare.open();
    a.gates.apply.open();
    await settle();
    b.gates.apply.fail(new Error('the store refused the chunk'));
    await settle();
    expect(pipeline.stopped).toBe(true);
    expect(await pipeline.room()).toBe(false);
    a.gates.finish.open();
    await expect(pipeline.drain()).rejects.toThrow('the store refused the chunk');
    expect(log).toContain('a finish done');
    for (const later of ['b finish', 'c apply', 'c finish', 'd apply', 'd finish']) expect(log).not.toContain(later);
  });

  it("abandons a chunk whose earlier one failed in its finish, though it was applied (its offsets stay; an ack may be sent again later)", async () => {
    const log: string[] = [];
    const pipeline = new ChunkPipeline(2);
    const [a, b] = ['a', 'b'].map((n) => probe(n, log)) as [Probe, Probe];
    pipeline.start(a.stages);
    pipeline.start(b.stages);
    a.gates.prepare.open();
    b.gates.prepare.open();
    a.gates.apply.open();
    b.gates.apply.open();
    await settle();
    a.gates.finish.fail(new Error('acks not sent'));
    await expect(pipeline.drain()).rejects.toThrow('acks not sent');
    expect(log).toContain('b apply done');
    expect(log).not.toContain('b finish');
  });

  it('stops without an error when the partition is no longer consumed here (revoked, stopping)', async () => {
    const log: string[] = [];
    let consumed = true;
    const pipeline = new ChunkPipeline(2, () => consumed);
    const [a, b] = ['a', 'b'].map((n) => probe(n, log)) as [Probe, Probe];
    pipeline.start(a.stages);
    pipeline.start(b.stages);
    a.gates.prepare.open();
    b.gates.prepare.open();
    await settle();
    consumed = false;
    a.gates.apply.open();
    a.gates.finish.open();
    await pipeline.drain();
    expect(pipeline.stopped).toBe(true);
    // a was applying when the partition went: it is not finished (no acks, no offsets); b never applied.
    expect(log).toEqual(['a prepare', 'b prepare', 'a prepare done', 'b prepare done', 'a apply', 'a apply done']);
  });

  it('a failure while preparing abandons the chunk and those after it, not the one before', async () => {
    const log: string[] = [];
    const pipeline = new ChunkPipeline(3);
    const [a, b, c] = ['a', 'b', 'c'].map((n) => probe(n, log)) as [Probe, Probe, Probe];
    for (const p of [a, b, c]) pipeline.start(p.stages);
    a.gates.prepare.open();
    c.gates.prepare.open();
    b.gates.prepare.fail(new Error('the registry answered nonsense'));
    await settle();
    for (const g of Object.values(a.gates)) g.open();
    await expect(pipeline.drain()).rejects.toThrow('the registry answered nonsense');
    expect(log).toContain('a finish done');
    expect(log).not.toContain('c apply');
  });

  it('refuses a window that is not a positive integer', () => {
    expect(() => new ChunkPipeline(0)).toThrow(RangeError);
    expect(() => new ChunkPipeline(1.5)).toThrow(/chunks in flight must be a positive integer, not 1.5/);
  });
});
