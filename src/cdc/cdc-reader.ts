import { tmpdir } from 'node:os';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import pg from 'pg';
import { Partitioners } from 'kafkajs';
import { LogicalReplicationService, type Pgoutput } from 'pg-logical-replication';
import type { Catalog } from '../catalog/catalog.js';
import { CatalogError } from '../catalog/catalog-error.js';
import { LetheError } from '../errors.js';
import { EventCodec } from '../events/event-codec.js';
import { createKafka } from '../kafka/kafka-client.js';
import type { Logger } from '../logger.js';
import { endsTheService, RunningState } from '../running-state.js';
import { CatalogIndex } from './catalog-index.js';
import { CommitAcker } from './commit-acker.js';
import type { SubjectErased } from './erasure-manifest.js';
import { EventPublisher } from './event-publisher.js';
import { formatLsn, parseLsn, type Lsn } from './lsn.js';
import { ErasureNotReadableError } from './manifest-builder.js';
import { removeStaleSpills, TransactionFold } from './transaction-fold.js';
import { checkSource } from './source-checks.js';
import { asSlotActiveError, loadPrimaryKeys, readSlot, SlotActiveError, type SlotState } from './source-database.js';
import { inspectSource } from './source-inspection.js';
import { whenAborted } from '../when-aborted.js';
import { TextPgoutputPlugin } from './text-pgoutput-plugin.js';
import { TransactionAssembler } from './transaction-assembler.js';

export const HEARTBEAT_MESSAGE_PREFIX = 'lethe.heartbeat';

/** Erasure contributions of one transaction held in memory before it is folded from files instead. */
const DEFAULT_SPILL_AFTER = 50_000;
/** How often the reader reports its durable position unasked (PostgreSQL's wal_receiver_status_interval). */
const STATUS_INTERVAL_MS = 10_000;

export interface CdcReaderOptions {
  catalog: Catalog;
  logger: Logger;
  maxBatchEvents?: number;
  lingerMs?: number;
  /** Full batches of events being sent while the reader decodes on (see EventPublisher). */
  maxBatchesInFlight?: number;
  /**
   * Erasure contributions of one transaction kept in memory before they are spilled to files
   * (transaction-fold.ts): bounds the reader's memory for a transaction of a million deletes.
   */
  spillAfter?: number;
  /** Where a spilled transaction's files go; the system's temporary directory by default. */
  spillDirectory?: string;
  /** Backoff between restarts after a failure. */
  restartDelayMs?: { initial: number; max: number };
  /** A session that streamed this long was healthy: the next failure's backoff starts over. */
  healthyAfterMs?: number;
  /** How often a standby (the slot active elsewhere) looks whether the slot is free. */
  standbyPollMs?: number;
}

export interface CdcReaderStats {
  transactions: number;
  events: number;
  confirmedLsn: string;
  restarts: number;
  /** Waiting while the slot streams to another reader. */
  standby: boolean;
}

/**
 * The CDC reader service: pgoutput from the catalog's slot, committed erasures folded into
 * manifests, Avro events on Kafka, and the slot confirmed only as far as Kafka has acknowledged.
 * `run(signal)` runs until the signal aborts; a failure of the infrastructure (database, Kafka,
 * registry) ends the current session and a new one starts from the slot with fresh connections,
 * after a backoff that starts over after a healthy session. A failure no restart mends (a refused
 * catalog, a missing slot, a programmer error) ends `run()` with the error. While the slot streams
 * to another reader, this one stands by: it polls the slot, holding neither the slot nor a producer.
 */
export class CdcReader {
  private readonly log: Logger;
  private readonly stats: CdcReaderStats = { transactions: 0, events: 0, confirmedLsn: '0/0', restarts: 0, standby: false };

  constructor(private readonly options: CdcReaderOptions) {
    this.log = options.logger.child({ service: 'cdc' });
  }

  snapshot(): CdcReaderStats {
    return { ...this.stats };
  }

  async run(signal: AbortSignal): Promise<void> {
    const delay = this.options.restartDelayMs ?? { initial: 500, max: 30_000 };
    const state = new RunningState(signal, {
      initialDelayMs: delay.initial,
      maxDelayMs: delay.max,
      healthyAfterMs: this.options.healthyAfterMs ?? 60_000,
    });
    while (state.shouldRun()) {
      try {
        await this.session(signal, state);
      } catch (error) {
        if (!state.shouldRun()) break;
        if (error instanceof SlotActiveError) {
          // Another reader won START_REPLICATION since the slot looked free: stand by again.
          this.standBy(error);
          await state.wait(this.standbyPollMs());
          continue;
        }
        if (endsTheService(error)) throw error;
        this.stats.restarts += 1;
        const delayMs = state.nextDelay();
        this.log.warn({ err: describe(error), failures: state.failures(), delayMs }, 'cdc session failed; restarting from the slot');
        await state.wait(delayMs);
      }
    }
  }

  /**
   * The slot, once no other connection streams from it. Postgres lets one connection stream from a
   * slot (pg_replication_slots.active_pid); a second reader polls until the walsender of the first
   * ends (at once when its process dies and the socket closes, after wal_sender_timeout when its
   * host vanishes). Standing by is not a failure: it never grows the backoff.
   */
  private async awaitSlot(db: pg.Client, state: RunningState, signal: AbortSignal): Promise<SlotState> {
    const name = this.options.catalog.source.slot;
    for (;;) {
      const slot = await readSlot(db, name);
      if (!slot.active) return slot;
      this.standBy(new SlotActiveError(name, slot.activePid));
      await state.wait(this.standbyPollMs());
      signal.throwIfAborted();
    }
  }

  /** Logged once per stand-by, however long it lasts. */
  private standBy(reason: SlotActiveError): void {
    if (this.stats.standby) return;
    this.stats.standby = true;
    this.log.info({ slot: reason.slot, activePid: reason.activePid, pollMs: this.standbyPollMs() }, 'replication slot active elsewhere: standing by');
  }

  private standbyPollMs(): number {
    return this.options.standbyPollMs ?? 1000;
  }

  /**
   * The catalog against the live database, before anything streams. Refused (a catalog error, not
   * retried): a table or column that does not exist, and a table whose replica identity cannot
   * carry the columns a delete must name its subject by, and a publication that would not send a
   * catalogued table's deletes as that table (missing, not covering it, not publishing deletes,
   * partitions under their own names), since the reader would drop those erasures. Anything else
   * doctor finds (slot lag) is logged with its fix, and the stream still starts.
   */
  private async checkCatalog(db: pg.Client): Promise<void> {
    const findings = checkSource(this.options.catalog, await inspectSource(db, this.options.catalog));
    const publication = (f: { subject: string }) => f.subject.startsWith('publication ');
    const refused = findings.filter((f) => f.level === 'problem' && (isCatalogPath(f.subject) || f.catalogPaths || publication(f)));
    if (refused.length > 0) {
      throw new CatalogError(
        'catalog',
        refused.flatMap((f) =>
          f.catalogPaths
            ? f.catalogPaths.map((path) => ({ path, message: `${f.subject}: ${f.message} -- fix: ${f.fix}` }))
            : publication(f)
              ? [{ path: 'source.publication', message: `${f.subject} ${f.message} -- fix: ${f.fix} (or run lethe init)` }]
              : [{ path: f.subject, message: f.message }],
        ),
      );
    }
    for (const f of findings) {
      if (f.level === 'ok' || f.subject.startsWith('slot ')) continue;
      this.log[f.level === 'warn' ? 'warn' : 'error']({ subject: f.subject, fix: f.fix }, f.message);
    }
  }

  /** One session: connect, stream until the signal aborts or something fails. */
  private async session(signal: AbortSignal, state: RunningState): Promise<void> {
    const { catalog } = this.options;
    const db = new pg.Client({ connectionString: catalog.source.url });
    const kafka = createKafka({ brokers: catalog.kafka.brokers, clientId: 'lethe-cdc', logger: this.log });
    // The Java client's partitioner (murmur2 of the key): a subject's events land on the same
    // partition any Java producer would choose for that key.
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    const stream = new LogicalReplicationService(
      { connectionString: catalog.source.url },
      // Never the library's defaults: they acknowledge on receipt and on a timer (STACK-NOTES.md).
      { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: true } },
    );
    let heartbeat: NodeJS.Timeout | undefined;
    const cleanup: Array<() => void> = [];
    let publisher: EventPublisher | undefined;
    const stopped = new AbortController();
    let failure: unknown;
    const fail = (error: unknown) => {
      failure ??= error;
      stopped.abort();
    };
    const onAbort = () => stopped.abort();
    signal.addEventListener('abort', onAbort, { once: true });

    try {
      await db.connect();
      db.on('error', fail);
      await this.checkCatalog(db);
      const slot = await this.awaitSlot(db, state, signal);
      const rowKeys = await loadPrimaryKeys(db, catalog.tables().map((t) => t.table));
      const index = new CatalogIndex(catalog, rowKeys);
      const codec = new EventCodec<SubjectErased>(
        new SchemaRegistry({ host: catalog.kafka.schemaRegistry }),
        catalog.kafka.topics.erasures,
        'subject-erased',
      );
      await codec.register();
      await producer.connect();

      const acker = new CommitAcker(parseLsn(slot.confirmedFlushLsn));
      let acknowledged: Lsn = acker.confirmableLsn();
      let ackTimer: NodeJS.Timeout | undefined;
      const requestAck = () => {
        if (catalog.source.ackIntervalMs === 0) return void acknowledge().catch(fail);
        ackTimer ??= setTimeout(() => {
          ackTimer = undefined;
          acknowledge().catch(fail);
        }, catalog.source.ackIntervalMs);
      };
      cleanup.push(() => clearTimeout(ackTimer));
      const acknowledge = async () => {
        const lsn = acker.confirmableLsn();
        if (lsn <= acknowledged || lsn === 0n) return;
        // The library reports lsn + 1 as flushed; Postgres expects the end LSN of what is
        // durable (what its own subscribers send), so hand it one byte less.
        await stream.acknowledge(formatLsn(lsn - 1n));
        acknowledged = lsn;
        this.stats.confirmedLsn = formatLsn(lsn);
      };
      publisher = new EventPublisher(
        producer,
        codec,
        {
          topic: catalog.kafka.topics.erasures,
          maxBatchEvents: this.options.maxBatchEvents ?? 500,
          lingerMs: this.options.lingerMs ?? 20,
          maxBatchesInFlight: this.options.maxBatchesInFlight ?? 4,
          maxMessageBytes: catalog.kafka.maxMessageBytes,
        },
        (events) => {
          this.stats.events += events;
          requestAck();
        },
        // A send the linger timer started has no caller to fail: end the session now, so it
        // restarts from the slot instead of holding WAL until the next catalogued commit.
        fail,
      );
      const assembler = new TransactionAssembler((table) => index.has(table), { keepChanges: false });
      const foldOptions = { spillAfter: this.options.spillAfter ?? DEFAULT_SPILL_AFTER, directory: this.options.spillDirectory ?? tmpdir(), owner: catalog.source.slot };
      let fold: TransactionFold | undefined;
      cleanup.push(() => void fold?.dispose());

      stream.on('data', async (_lsn: string, message: Pgoutput.Message) => {
        // The library turns a throwing handler into an 'error' event and goes on with the next
        // message; so nothing may throw here: a failure stops the session instead.
        if (stopped.signal.aborted) return;
        try {
          const step = assembler.accept(message);
          if (step.kind === 'change') {
            const spilling = fold!.add(step.change);
            if (spilling) await spilling;
          } else if (step.kind === 'begin') {
            acker.begin();
            fold = new TransactionFold(index, foldOptions);
          } else if (step.kind === 'safe-point') {
            if (acker.safePoint(parseLsn(step.lsn))) requestAck();
          } else if (step.kind === 'commit') {
            const tx = step.transaction;
            const ticket = acker.commit(parseLsn(tx.commitEndLsn));
            const current = fold!;
            fold = undefined;
            // Each batch is queued as folded (a spilled transaction's bucket by bucket); the
            // commit's ticket goes in after the last, so the slot never passes a part of it.
            const summary = await current.finish(tx, (manifests) => publisher!.add(manifests));
            this.stats.transactions += 1;
            for (const warning of summary.warnings) {
              const fields = { code: warning.code, table: warning.table, subjectType: warning.subjectType, xid: tx.xid, commitLsn: tx.commitLsn, ...(warning.count > 1 ? { times: warning.count } : {}) };
              this.log.error(fields, warning.count > 1 ? `${warning.message} (${warning.count} times in this transaction)` : warning.message);
            }
            if (summary.subjects > 0 || summary.unattachedRelatedRows > 0) {
              this.log[summary.spilled ? 'info' : 'debug'](
                { xid: tx.xid, commitLsn: tx.commitLsn, subjects: summary.subjects, unattachedRelatedRows: summary.unattachedRelatedRows, spilled: summary.spilled },
                'transaction folded',
              );
            }
            await publisher!.add([], ticket);
          }
        } catch (error) {
          if (error instanceof ErasureNotReadableError) {
            // The session fails rather than publish the transaction without this erasure: the
            // slot stays before the commit, so the erasure is never dropped (see foldTransaction).
            this.log.error(
              { code: error.code, table: error.table, subjectType: error.subjectType, columns: error.columns, xid: error.xid, commitLsn: error.commitLsn, commitEndLsn: error.commitEndLsn },
              error.message,
            );
          }
          fail(error);
        }
      });
      // Answer the server (or wal_sender_timeout ends the connection) with what is durable,
      // never with a keepalive's own position (see CommitAcker).
      const reportStatus = () => {
        if (acknowledged > 0n) void stream.acknowledge(formatLsn(acknowledged - 1n)).catch(fail);
      };
      stream.on('heartbeat', (_lsn: string, _time: number, shouldRespond: boolean) => {
        if (shouldRespond) reportStatus();
      });
      // And unasked, as a standby does every wal_receiver_status_interval: while a large
      // transaction streams in, the keepalive asking for an answer waits in the socket behind
      // its changes, and a reply that comes only then comes after the server gave up.
      const statusTimer = setInterval(reportStatus, STATUS_INTERVAL_MS);
      cleanup.push(() => clearInterval(statusTimer));
      const failStream = (error: unknown) => fail(asSlotActiveError(error, catalog.source.slot) ?? error);
      stream.on('error', failStream);
      stream.once('start', () => {
        // START_REPLICATION accepted: the slot is this reader's, and the healthy stretch begins.
        state.healthy();
        // The slot is this reader's: spill files of its slot left by a reader killed are of no use.
        removeStaleSpills(foldOptions.directory, catalog.source.slot).then(
          (removed) => removed > 0 && this.log.info({ directories: removed }, 'removed the spill files of readers that are gone'),
          () => undefined,
        );
        if (this.stats.standby) this.log.info({ slot: catalog.source.slot }, 'took over the replication slot');
        this.stats.standby = false;
      });

      const subscription = stream
        .subscribe(new TextPgoutputPlugin({ protoVersion: 1, publicationNames: [catalog.source.publication], messages: true }), catalog.source.slot)
        .then(
          () => fail(new LetheError('REPLICATION_ENDED', 'the replication stream ended', { retriable: true })),
          failStream,
        );
      heartbeat = setInterval(() => {
        db.query('SELECT pg_logical_emit_message(false, $1, $2)', [HEARTBEAT_MESSAGE_PREFIX, '']).catch(fail);
      }, catalog.source.heartbeatIntervalMs);
      this.log.info(
        { slot: catalog.source.slot, publication: catalog.source.publication, from: slot.confirmedFlushLsn, tables: rowKeys.size },
        'cdc reader streaming',
      );

      await whenAborted(stopped.signal);
      clearInterval(heartbeat);
      if (!failure) {
        // Graceful stop: what was decoded is published and acknowledged before the stream closes.
        await publisher.flush();
        await acknowledge();
      }
      // stop() ends the replication connection. The promise subscribe() returned does not always
      // settle after that (seen with pg-logical-replication 2.5), so it is not awaited: its
      // handlers only record a failure, and this session is over either way.
      await stream.stop();
      void subscription;
    } catch (error) {
      failure ??= error;
    } finally {
      signal.removeEventListener('abort', onAbort);
      clearInterval(heartbeat);
      for (const step of cleanup) step();
      publisher?.close();
      await stream.stop().catch(() => undefined);
      await producer.disconnect().catch(() => undefined);
      await db.end().catch(() => undefined);
    }
    if (failure && !signal.aborted) throw failure;
    this.log.info({ confirmedLsn: this.stats.confirmedLsn, events: this.stats.events }, 'cdc reader stopped');
  }
}

export function isCatalogPath(subject: string): boolean {
  return subject.startsWith('subjects.');
}

function describe(error: unknown): { message: string; code?: string } {
  if (error instanceof LetheError) return { message: error.message, code: error.code };
  return { message: error instanceof Error ? error.message : String(error) };
}

