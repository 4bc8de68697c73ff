import { errorKind } from './errors.js';
import { jitteredDelay } from './retry.js';

export interface RunningStateOptions {
  /** The delay ceiling after the first failure; it doubles (`factor`) with each failure in a row. */
  initialDelayMs: number;
  maxDelayMs: number;
  factor?: number;
  /**
   * A session that did its work (see `healthy()`) at least this long was a healthy stretch: the
   * failure that ends it is the first of a new run, so the delay starts over from `initialDelayMs`.
   */
  healthyAfterMs: number;
  now?: () => number;
  random?: () => number;
}

/**
 * The restart loop of a long-running service (after zero-cache's RunningState): a failed session
 * waits a backoff that grows with each failure in a row, with jitter, and starts over after a
 * healthy stretch, so a service that fails once a day waits half a second, not the ceiling it
 * reached last week; a stop (the signal) cuts any wait short. A wait that is not a failure (a
 * standby polling for its turn) goes through `wait()` and leaves the backoff as it is.
 */
export class RunningState {
  private readonly now: () => number;
  private readonly random: () => number;
  private failuresInARow = 0;
  private healthySince: number | undefined;

  constructor(
    private readonly signal: AbortSignal,
    private readonly options: RunningStateOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  shouldRun(): boolean {
    return !this.signal.aborted;
  }

  /** The session is doing its work (connected, streaming): the healthy stretch is counted from now. */
  healthy(): void {
    this.healthySince ??= this.now();
  }

  /** Failures since the last healthy stretch, the one being backed off from included. */
  failures(): number {
    return this.failuresInARow;
  }

  /**
   * The delay before the next session after a failure. Equal jitter (half the ceiling, plus a random
   * part of the other half): restarts of several instances spread out, and never collapse into a
   * tight loop the way full jitter's near-zero draws would.
   */
  nextDelay(): number {
    if (this.healthySince !== undefined && this.now() - this.healthySince >= this.options.healthyAfterMs) this.failuresInARow = 0;
    this.healthySince = undefined;
    this.failuresInARow += 1;
    return jitteredDelay(this.failuresInARow, this.options, this.random);
  }

  /** After a failure: waits the next delay (cut short by the stop) and returns it. */
  async backoff(): Promise<number> {
    const delayMs = this.nextDelay();
    await this.wait(delayMs);
    return delayMs;
  }

  /** Waits `ms`, or less if the service is stopped meanwhile; never rejects. The backoff does not grow. */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.signal.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        this.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.signal.addEventListener('abort', done, { once: true });
    });
  }
}

/**
 * An error no restart can mend, so the service ends (and `lethe run` exits non-zero for a
 * supervisor and a human to see) instead of looping on it: a programmer error (kafkajs' retrier
 * draws the same line) or a Lethe error marked not retriable, a refused catalog among them.
 */
export function endsTheService(error: unknown): boolean {
  return errorKind(error) !== 'infrastructure';
}
