import { userInfo } from 'node:os';
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { Catalog } from '../catalog/catalog.js';
import { LetheError, UsageError } from '../errors.js';
import { createKafka } from '../kafka/kafka-client.js';
import { createLogger } from '../logger.js';
import { assertManualSystem, confirmationInput, describeIssues } from '../tracker/confirmation-input.js';
import { ERASURE_STATES, expectedTargetsOf, type ErasureState, type ErasureStatus } from '../tracker/erasure-status.js';
import { buildReport, renderReport, REPORT_FORMATS, type ReportFormat } from '../tracker/proof-report.js';
import { StatusPublisher } from '../tracker/status-publisher.js';
import { StatusStore } from '../tracker/status-store.js';
import { catalogFrom } from './catalog-option.js';
import { messageOf } from './command-failure.js';

async function openStore(catalog: Catalog): Promise<StatusStore> {
  const store = new StatusStore(catalog.tracker.database, catalog.tracker.schema, (type) => expectedTargetsOf(catalog, type), catalog.tracker.slaMs);
  try {
    await store.assertReady();
  } catch (error) {
    await store.close().catch(() => undefined);
    throw error;
  }
  return store;
}

function positiveInteger(value: string): number {
  if (!/^[0-9]+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError('expected a positive integer, e.g. 50.');
  return Number(value);
}

function erasureStates(value: string): ErasureState[] {
  const states = value.split(',').map((s) => s.trim());
  const unknown = states.filter((s) => !(ERASURE_STATES as readonly string[]).includes(s));
  if (unknown.length > 0) throw new InvalidArgumentError(`${unknown.map((s) => `'${s}'`).join(', ')} is not a status; allowed: ${ERASURE_STATES.join(', ')} (comma-separated).`);
  return states as ErasureState[];
}

/** An erasure by its id, or the newest erasure of a subject given as `<type>:<id>`. */
async function findErasure(store: StatusStore, ref: string): Promise<ErasureStatus> {
  const byId = await store.get(ref);
  if (byId) return byId;
  const at = ref.indexOf(':');
  if (at > 0) {
    const [newest] = (await store.list({ subjectType: ref.slice(0, at), subjectId: ref.slice(at + 1), limit: 1000 })).sort(
      (a, b) => (b.facts?.commitTime ?? 0) - (a.facts?.commitTime ?? 0),
    );
    if (newest) return newest;
  }
  throw new LetheError('NOT_FOUND', `no erasure ${ref} (give an erasure id, or a subject as <type>:<id>)`);
}

/** `lethe report`, `lethe confirm` and `lethe status`: the tracker's store, from the command line. */
export function registerTrackerCommands(program: Command): void {
  program
    .command('report')
    .description("print the proof of erasure of one erasure (by id, or a subject's newest as <type>:<id>)")
    .argument('<erasure>', 'erasure id, or <subjectType>:<subjectId>')
    .option('-f, --format <format>', `md, json or html`, 'md')
    .action(async (ref: string, options: { format: string }, command: Command) => {
      if (!REPORT_FORMATS.includes(options.format as ReportFormat)) throw new UsageError(`--format ${options.format}: one of ${REPORT_FORMATS.join(', ')}`);
      const catalog = await catalogFrom(command);
      const store = await openStore(catalog);
      try {
        process.stdout.write(renderReport(buildReport(await findErasure(store, ref), Date.now()), options.format as ReportFormat));
      } finally {
        await store.close();
      }
    });

  program
    .command('confirm')
    .description('record that the owner of a manual system erased the subject there')
    .argument('<erasure>', 'erasure id, or <subjectType>:<subjectId>')
    .argument('<system>', 'the manual system, as named in the catalog')
    .requiredOption('--by <who>', 'who did it')
    .option('--note <text>', 'what was done', '')
    .action(async (ref: string, system: string, options: { by: string; note: string }, command: Command) => {
      const input = confirmationInput.safeParse({ system, by: options.by, note: options.note });
      if (!input.success) throw new UsageError(describeIssues(input.error).replace(/(^|; )(by|note):/g, '$1--$2:'));
      const catalog = await catalogFrom(command);
      assertManualSystem(catalog, system);
      const store = await openStore(catalog);
      try {
        // A tracker not restarted since an upgrade may not have added the newer columns yet.
        await store.ensureSchema();
        const erasure = await findErasure(store, ref);
        const { by, note } = input.data;
        const { status, created } = await store.confirm({ eventId: erasure.eventId, system, by, via: `cli:${osUser()}`, note, at: Date.now() });
        const manual = status.targets.find((t) => t.kind === 'manual' && t.target === system)!;
        process.stdout.write(
          created
            ? `confirmed ${system} for erasure ${status.eventId} (${status.subjectType}:${status.subjectId}); status now ${status.status}\n`
            : `${system} was already confirmed by ${manual.confirmedBy} at ${new Date(manual.at!).toISOString()}; status ${status.status}\n`,
        );
        await publishQuietly(catalog, store);
      } finally {
        await store.close();
      }
    });

  program
    .command('status')
    .description('list erasures, most urgent first (overdue, failed, in flight, done)')
    .addOption(new Option('--status <states>', `only these states, comma-separated (${ERASURE_STATES.join(', ')})`).argParser(erasureStates))
    .option('--subject <type:id>', "only this subject's erasures")
    .addOption(new Option('--limit <n>', 'at most this many').default(50).argParser(positiveInteger))
    .action(async (options: { status?: ErasureState[]; subject?: string; limit: number }, command: Command) => {
      const at = options.subject?.indexOf(':') ?? -1;
      if (options.subject && at <= 0) throw new UsageError(`--subject ${options.subject}: give <type>:<id>`);
      const catalog = await catalogFrom(command);
      const store = await openStore(catalog);
      try {
        const list = await store.list({
          ...(options.status ? { status: options.status } : {}),
          ...(options.subject ? { subjectType: options.subject.slice(0, at), subjectId: options.subject.slice(at + 1) } : {}),
          limit: options.limit,
        });
        for (const s of list) {
          const when = s.facts ? new Date(s.facts.commitTime).toISOString() : 'event not read yet';
          process.stdout.write(`${s.status.padEnd(8)} ${s.eventId}  ${s.subjectType}:${s.subjectId}  ${when}  ${s.counts.done}/${s.counts.targets} targets done\n`);
        }
        if (list.length === 0) process.stdout.write('no erasures\n');
      } finally {
        await store.close();
      }
    });
}

/**
 * Who runs `lethe confirm`: its trust is access to the tracker's database, so the OS account is
 * what is known of them (a container without a passwd entry has only its uid).
 */
export function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? `uid ${process.getuid?.() ?? 'unknown'}`;
  }
}

/** Puts the new status on the status topic now; if Kafka is away, the tracker does it later. */
async function publishQuietly(catalog: Catalog, store: StatusStore): Promise<void> {
  const publisher = new StatusPublisher(createKafka({ brokers: catalog.kafka.brokers, clientId: 'lethe-confirm', logger: createLogger({ level: 'error' }), retry: { retries: 2 } }), catalog, store);
  try {
    await publisher.connect();
    await publisher.publishPending();
  } catch (error) {
    process.stderr.write(`lethe: the status topic was not updated now (${messageOf(error)}); the tracker publishes it on its next check\n`);
  } finally {
    await publisher.close().catch(() => undefined);
  }
}
