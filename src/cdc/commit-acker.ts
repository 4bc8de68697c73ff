import { ZERO_LSN, type Lsn } from './lsn.js';

/**
 * Decides how far the replication slot may be confirmed. Lethe's one guarantee rests here: the
 * slot's confirmed LSN never passes a commit whose events Kafka has not acknowledged, nor any
 * commit before it.
 *
 * Commits are registered in stream order as they are decoded; each is settled when its events
 * are durable in Kafka (immediately when it produced none). The confirmable LSN is the end LSN of
 * the last commit of the settled prefix, so a commit settled out of order waits for the ones
 * before it. Between transactions, with nothing outstanding, a safe point met in the stream (the
 * reader's own non-transactional heartbeat message) may be confirmed too, so an idle or
 * unrelated-traffic-only database does not pile up WAL; during a transaction, or with any commit
 * outstanding, a safe point changes nothing. (Compare zero-cache's Acker and powersync's
 * flush -> commit -> ack order.)
 *
 * Server keepalives are deliberately not safe points: pg-logical-replication emits them as they
 * arrive, while decoded changes may still wait in its flow-control queue, so a keepalive's WAL end
 * can lie past a transaction this class has not seen yet.
 */
export class CommitAcker {
  private readonly outstanding: Array<{ endLsn: Lsn; settled: boolean }> = [];
  private confirmable: Lsn;
  private inTransaction = false;

  constructor(startLsn: Lsn = ZERO_LSN) {
    this.confirmable = startLsn;
  }

  /** A transaction's BEGIN was decoded; keepalives may not advance the slot until it settles. */
  begin(): void {
    this.inTransaction = true;
  }

  /** The transaction's COMMIT was decoded. Returns a ticket to settle once its events are durable. */
  commit(endLsn: Lsn): CommitTicket {
    this.inTransaction = false;
    const last = this.outstanding.at(-1)?.endLsn ?? this.confirmable;
    if (endLsn < last) {
      throw new Error(`commit end LSN went backwards: ${endLsn} after ${last}`);
    }
    const entry = { endLsn, settled: false };
    this.outstanding.push(entry);
    return {
      endLsn,
      settle: () => {
        entry.settled = true;
        this.advance();
      },
    };
  }

  /**
   * The stream reached `lsn` outside any transaction (a non-transactional message, decoded in
   * order). Returns whether the confirmable LSN moved: only when no transaction is open or
   * outstanding.
   */
  safePoint(lsn: Lsn): boolean {
    if (this.inTransaction || this.outstanding.length > 0) return false;
    if (lsn <= this.confirmable) return false;
    this.confirmable = lsn;
    return true;
  }

  /** The LSN the slot may be confirmed to now. */
  confirmableLsn(): Lsn {
    return this.confirmable;
  }

  /** Commits decoded but not yet durable. */
  outstandingCount(): number {
    return this.outstanding.filter((e) => !e.settled).length;
  }

  private advance(): void {
    while (this.outstanding.length > 0 && this.outstanding[0]!.settled) {
      this.confirmable = this.outstanding.shift()!.endLsn;
    }
  }
}

export interface CommitTicket {
  readonly endLsn: Lsn;
  /** The commit's events are durable downstream (or it had none). Idempotent. */
  settle(): void;
}
