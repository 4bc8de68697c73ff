import { Partitioners } from 'kafkajs';
import type { Command } from 'commander';
import pg from 'pg';
import type { Catalog } from '../catalog/catalog.js';
import { ServiceUnavailableError, UsageError } from '../errors.js';
import { parseHoldScope, parseReviewDate, parseSubjectRef, scopeText } from '../holds/hold-scope.js';
import { redeliverReleased } from '../holds/hold-redelivery.js';
import { HoldStore, type Hold } from '../holds/hold-store.js';
import { createKafka } from '../kafka/kafka-client.js';
import { createLogger } from '../logger.js';
import { catalogFrom } from './catalog-option.js';
import { assertCanonicalKey } from '../requests/subject-key.js';
import { messageOf } from './command-failure.js';
import { osUser } from './tracker-commands.js';

/**
 * `lethe hold place|release|list`: legal holds, from the command line. Its trust is access to the
 * tracker's database, so the OS account is recorded as who acted (`cli:<user>`), with `--by` as
 * the name they give. A released hold's kept-back erasures are sent on at once when Kafka can be
 * reached; otherwise `lethe run`'s request worker sends them on its next tick.
 */
export function registerHold(program: Command): void {
  const hold = program.command('hold').description('legal holds: what is kept from erasure, on what basis, until when it is reviewed');

  hold
    .command('place')
    .description("keep a subject's data from erasure in a scope")
    .requiredOption('--subject <type:key>', 'the subject, e.g. user:42 (a composite key: its values joined by /)')
    .requiredOption('--scope <scope>', 'all, table:<schema.table> or sink:<name>')
    .requiredOption('--basis <text>', 'the legal basis, e.g. "litigation hold, case 2026-114"')
    .requiredOption('--review <date>', 'when the hold is reviewed, YYYY-MM-DD (not in the past)')
    .option('--by <name>', 'who places it (recorded beside the OS user)')
    .option('--json', 'print the hold as JSON')
    .action(async (options: { subject: string; scope: string; basis: string; review: string; by?: string; json?: boolean }, command: Command) => {
      const catalog = await catalogFrom(command);
      const subject = parseSubjectRef(catalog, options.subject);
      const type = catalog.subjects.find((s) => s.type === subject.subjectType)!;
      const scope = scopeText(parseHoldScope(catalog, type, options.scope));
      const basis = options.basis.trim();
      if (basis === '') throw new UsageError('--basis: give the legal basis of the hold');
      const reviewAt = parseReviewDate(options.review, Date.now());
      const source = new pg.Pool({ connectionString: catalog.source.url, max: 1, connectionTimeoutMillis: 10_000 });
      try {
        await assertCanonicalKey(source, catalog, subject.subjectType, subject.key);
      } catch (error) {
        if (error instanceof UsageError) throw new UsageError(`--subject ${options.subject}: ${error.message}`);
        // A hold is most needed when things are wrong: the primary down does not stop it.
        if (!(error instanceof ServiceUnavailableError)) throw error;
        process.stderr.write(`warning: the key of ${options.subject} was not checked against the primary (${error.message}); a key not as the database prints it would never match\n`);
      } finally {
        await source.end();
      }
      await withStore(catalog, async (store) => {
        const placed = await store.place({ subjectType: subject.subjectType, subjectId: subject.subjectId, scope, basis, reviewAt, placedBy: actor(options.by) });
        if (options.json) process.stdout.write(`${JSON.stringify(placed, null, 2)}\n`);
        else process.stdout.write(`placed ${placed.id} on ${placed.subjectType}:${placed.subjectId} (scope ${placed.scope}), review on ${placed.reviewAt}\n`);
      });
    });

  hold
    .command('release')
    .description('release a hold: what it kept is erased through the same path')
    .argument('<id>', 'the hold id (hold_…)')
    .option('--note <text>', 'why it is released')
    .option('--by <name>', 'who releases it (recorded beside the OS user)')
    .option('--json', 'print the hold as JSON')
    .action(async (id: string, options: { note?: string; by?: string; json?: boolean }, command: Command) => {
      const catalog = await catalogFrom(command);
      await withStore(catalog, async (store, pool) => {
        const { hold: h, released } = await store.release(id, actor(options.by), options.note?.trim() || null);
        if (options.json) process.stdout.write(`${JSON.stringify(h, null, 2)}\n`);
        else if (released) process.stdout.write(`released ${h.id} on ${h.subjectType}:${h.subjectId} (scope ${h.scope})\n`);
        else process.stdout.write(`${h.id} was already released by ${h.releasedBy} at ${new Date(h.releasedAt!).toISOString()}\n`);
        await redeliverQuietly(catalog, pool, options.json === true);
      });
    });

  hold
    .command('list')
    .description('list active holds (--all: released ones too)')
    .option('--subject <type:key>', "only this subject's holds")
    .option('--all', 'released holds too')
    .option('--json', 'print the holds as JSON')
    .action(async (options: { subject?: string; all?: boolean; json?: boolean }, command: Command) => {
      const catalog = await catalogFrom(command);
      const subject = options.subject ? parseSubjectRef(catalog, options.subject) : undefined;
      await withStore(catalog, async (store) => {
        const holds = await store.list({ ...(subject ? { subjectType: subject.subjectType, subjectId: subject.subjectId } : {}), includeReleased: options.all === true });
        process.stdout.write(options.json ? `${JSON.stringify(holds, null, 2)}\n` : holdTable(holds));
      });
    });
}

/** The holds as an aligned text table, one line each; the basis last, as it is free text. */
export function holdTable(holds: readonly Hold[]): string {
  if (holds.length === 0) return 'no holds\n';
  const rows = [
    ['id', 'subject', 'scope', 'review', 'placed', 'released', 'basis'],
    ...holds.map((h) => [
      h.id,
      `${h.subjectType}:${h.subjectId}`,
      h.scope,
      h.reviewAt,
      `${new Date(h.placedAt).toISOString().slice(0, 16)}Z by ${h.placedBy}`,
      h.releasedAt === null ? '-' : `${new Date(h.releasedAt).toISOString().slice(0, 16)}Z by ${h.releasedBy}${h.releaseNote ? `: ${h.releaseNote}` : ''}`,
      h.basis,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

function actor(by: string | undefined): string {
  const via = `cli:${osUser()}`;
  return by?.trim() ? `${by.trim()} (${via})` : via;
}

async function withStore(catalog: Catalog, work: (store: HoldStore, pool: pg.Pool) => Promise<void>): Promise<void> {
  const pool = new pg.Pool({ connectionString: catalog.tracker.database, max: 2, connectionTimeoutMillis: 10_000 });
  pool.on('error', () => undefined);
  try {
    const store = new HoldStore(pool, catalog.tracker.schema);
    // A tracker not restarted since an upgrade may not have created the holds tables yet.
    await store.ensureSchema();
    await work(store, pool);
  } finally {
    await pool.end();
  }
}

/** Sends on what released holds kept, now; if Kafka is away, the request worker does it later. */
async function redeliverQuietly(catalog: Catalog, pool: pg.Pool, quiet: boolean): Promise<void> {
  const kafka = createKafka({ brokers: catalog.kafka.brokers, clientId: 'lethe-hold', logger: createLogger({ level: 'error' }), retry: { retries: 2 } });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  try {
    await producer.connect();
    const sent = await redeliverReleased({ catalog, pool, producer });
    if (!quiet && sent > 0) process.stdout.write(`sent ${sent} kept-back erasure event(s) on to their sinks\n`);
  } catch (error) {
    process.stderr.write(`lethe: the kept-back erasures were not sent on now (${messageOf(error)}); lethe run sends them on its next tick\n`);
  } finally {
    await producer.disconnect().catch(() => undefined);
  }
}
