import { reasonOf } from '../errors.js';
import type { Logger } from '../logger.js';

/** Heartbeat errors that mean this member's assignment is gone: its chunk must be abandoned. */
const STALE = new Set(['REBALANCE_IN_PROGRESS', 'UNKNOWN_MEMBER_ID', 'ILLEGAL_GENERATION', 'FENCED_INSTANCE_ID', 'NOT_COORDINATOR_FOR_GROUP', 'NOT_COORDINATOR']);

/**
 * Heartbeats the group while a chunk runs, however long it takes (a slow store, a wait for one
 * that is down), so the member is not evicted and its chunk applied twice by another. When the
 * group answers that a rebalance took the member's partitions, `stale` aborts: the chunk's waits
 * end and its offsets stay uncommitted for the new owner. A heartbeat that fails because Kafka is
 * away is only logged; the next one tries again.
 */
export class GroupHeartbeat {
  readonly stale = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private beating = false;
  private lastBeat = Date.now();

  /**
   * `leaseMs`: a member that could not heartbeat for this long (the group's session timeout) must
   * assume it was evicted and its partitions handed on, even if it never heard so (Kafka away from
   * it while its store still answers): it stops, so two members never apply one chunk at once.
   */
  constructor(
    private readonly heartbeat: () => Promise<void>,
    intervalMs: number,
    private readonly log: Logger,
    private readonly leaseMs = Infinity,
  ) {
    this.timer = setInterval(() => void this.beat(), intervalMs);
  }

  private async beat(): Promise<void> {
    if (this.beating || this.stale.signal.aborted) return;
    this.beating = true;
    try {
      await this.heartbeat();
      this.lastBeat = Date.now();
    } catch (error) {
      const type = (error as { type?: string }).type ?? '';
      if (STALE.has(type)) {
        this.log.info({ reason: type }, 'group rebalanced during a chunk; leaving it to the new owner');
        this.stale.abort(error);
      } else if (Date.now() - this.lastBeat >= this.leaseMs) {
        this.log.warn({ err: reasonOf(error), sinceMs: Date.now() - this.lastBeat }, 'no heartbeat for a session timeout: leaving the chunk to whoever owns the partition now');
        this.stale.abort(error);
      } else this.log.debug({ err: reasonOf(error) }, 'heartbeat failed; next one tries again');
    } finally {
      this.beating = false;
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
