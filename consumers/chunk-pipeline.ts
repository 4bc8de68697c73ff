/**
 * What the runner does with one chunk, in stages. `prepare` (decode, read the holds) may overlap
 * the apply of earlier chunks; `apply` runs strictly after the previous chunk's apply, so one
 * subject's events (always on one partition) reach the store in offset order; `finish` (send the
 * acks, dead letters and deferrals, then mark the offsets done) runs strictly after the previous
 * chunk's finish, so offsets complete in order and acks leave in the order they did before.
 */
export interface ChunkStages<P, A> {
  prepare(): Promise<P>;
  apply(prepared: P): Promise<A>;
  finish(applied: A): Promise<void>;
}

/** A later chunk's stage was not run because an earlier chunk of the partition failed or stopped. */
class Abandoned extends Error {}

/**
 * The chunks of one partition's batch in flight, at most `limit` at a time (the kafkajs pattern
 * of eachBatch with a bounded window, as kafka-connect-elasticsearch's AsyncOffsetTracker bounds
 * its in-flight records). The applies form one chain and the finishes another: chunk k's sends
 * overlap chunk k+1's apply. The first failure (an error, a stop, a revocation) abandons every
 * later chunk: none of them is applied after it nor finished, so their offsets stay uncommitted.
 * `proceed` is asked before each apply and each finish: false (the partition was revoked, the
 * consumer stops) abandons that chunk and the ones after it. Pure of I/O: the stages do it.
 */
export class ChunkPipeline {
  private applied: Promise<void> = Promise.resolve();
  private finished: Promise<void> = Promise.resolve();
  private readonly running = new Set<Promise<void>>();
  /** The first failure, and the place of the chunk it belongs to: chunks before it still finish. */
  private failure: { error: unknown; at: number } | undefined;
  /** The first error that is not an abandonment, wherever it happened: what `drain` rethrows. */
  private fault: { error: unknown } | undefined;
  private started = 0;

  constructor(
    private readonly limit: number,
    private readonly proceed: () => boolean = () => true,
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`chunks in flight must be a positive integer, not ${limit}`);
  }

  /** Whether a chunk failed or was abandoned: no further chunk should be started. */
  get stopped(): boolean {
    return this.failure !== undefined;
  }

  /** Waits for room in the window; false when the pipeline stopped meanwhile. */
  async room(): Promise<boolean> {
    while (this.running.size >= this.limit && !this.stopped) await Promise.race(this.running);
    return !this.stopped;
  }

  /** Starts a chunk. Call `room()` first: the window is not enforced here. */
  start<P, A>(stages: ChunkStages<P, A>): void {
    const afterApply = this.applied;
    const afterFinish = this.finished;
    let appliedDone!: () => void;
    let finishDone!: () => void;
    this.applied = new Promise<void>((resolve) => (appliedDone = resolve));
    this.finished = new Promise<void>((resolve) => (finishDone = resolve));
    const task = this.run(this.started++, stages, afterApply, afterFinish, appliedDone, finishDone);
    this.running.add(task);
    void task.finally(() => this.running.delete(task));
  }

  /** Waits for every chunk started; rethrows the first failure (an abandonment is none). */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running);
    if (this.fault) throw this.fault.error;
  }

  private async run<P, A>(at: number, stages: ChunkStages<P, A>, afterApply: Promise<void>, afterFinish: Promise<void>, appliedDone: () => void, finishDone: () => void): Promise<void> {
    try {
      let applied: A;
      try {
        const prepared = await stages.prepare();
        await afterApply;
        this.check(at);
        applied = await stages.apply(prepared);
      } finally {
        appliedDone();
      }
      await afterFinish;
      this.check(at);
      await stages.finish(applied);
    } catch (error) {
      if (!this.failure || at < this.failure.at) this.failure = { error, at };
      if (!(error instanceof Abandoned)) this.fault ??= { error };
    } finally {
      appliedDone();
      finishDone();
    }
  }

  private check(at: number): void {
    if (this.failure && this.failure.at < at) throw new Abandoned('an earlier chunk of the partition did not finish');
    if (!this.proceed()) throw new Abandoned('the partition is no longer consumed here');
  }
}
