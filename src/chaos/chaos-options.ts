import { FAULT_KINDS, type FaultCounts, type FaultKind } from './chaos-plan.js';

/** What `make chaos` (and the short run in `make test`) is told, from flags or CHAOS_* variables. */
export interface ChaosOptions {
  subjects: number;
  faults: FaultCounts;
  seed: number | undefined;
  short: boolean;
  waves: number;
  outageMs: [number, number];
  /** After the last fault, how long the erasures may take to complete. */
  deadlineMs: number;
  /** Keep the scratch schema, topics, indices and keys (to look at a failure). */
  keep: boolean;
}

const FULL_FAULTS: FaultCounts = { kill: 4, elasticsearch: 3, redis: 3, kafka: 2, 'schema-registry': 2, bigquery: 2 };
const SHORT_FAULTS: FaultCounts = { kill: 2, elasticsearch: 1, redis: 1, kafka: 1, 'schema-registry': 1, bigquery: 1 };

export const CHAOS_USAGE = `usage: node dist/src/chaos/chaos-run.js [--short] [--subjects N] [--faults SPEC] [--seed N] [--waves N] [--deadline SECONDS] [--keep]
  --faults: none, or kind=count pairs (kinds: ${FAULT_KINDS.join(', ')}), e.g. kill=4,redis=2; a kind not named is 0
  environment: CHAOS_SUBJECTS, CHAOS_FAULTS, CHAOS_SEED, CHAOS_SHORT=1, CHAOS_WAVES, CHAOS_DEADLINE`;

export class ChaosUsageError extends Error {}

/** Parses `--faults`: `none`, or `kind=count,...`. */
export function parseFaults(spec: string): FaultCounts {
  const counts = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as FaultCounts;
  if (spec.trim() === 'none' || spec.trim() === '0') return counts;
  for (const part of spec.split(',').map((p) => p.trim()).filter(Boolean)) {
    const match = /^([a-z-]+)=(\d+)$/.exec(part);
    if (!match || !(FAULT_KINDS as readonly string[]).includes(match[1]!)) {
      throw new ChaosUsageError(`--faults: '${part}' is not kind=count with a kind among ${FAULT_KINDS.join(', ')}`);
    }
    counts[match[1] as FaultKind] = Number(match[2]);
  }
  return counts;
}

function positiveInteger(name: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1) throw new ChaosUsageError(`${name}: '${text}' is not a positive integer`);
  return n;
}

export function parseChaosOptions(argv: string[], env: Record<string, string | undefined>): ChaosOptions {
  const given: Record<string, string | undefined> = {
    subjects: env.CHAOS_SUBJECTS,
    faults: env.CHAOS_FAULTS,
    seed: env.CHAOS_SEED,
    waves: env.CHAOS_WAVES,
    deadline: env.CHAOS_DEADLINE,
    short: env.CHAOS_SHORT === '1' || env.CHAOS_SHORT === 'true' ? 'yes' : undefined,
    keep: undefined,
  };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    const name = arg.replace(/^--/, '').split('=')[0]!;
    if (!arg.startsWith('--') || !(name in given)) throw new ChaosUsageError(`unknown argument '${arg}'\n${CHAOS_USAGE}`);
    if (name === 'short' || name === 'keep') {
      given[name] = 'yes';
      continue;
    }
    const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
    if (value === undefined) throw new ChaosUsageError(`--${name} needs a value\n${CHAOS_USAGE}`);
    given[name] = value;
  }
  const short = given.short === 'yes';
  return {
    short,
    subjects: given.subjects ? positiveInteger('--subjects', given.subjects) : short ? 300 : 1000,
    faults: given.faults !== undefined ? parseFaults(given.faults) : { ...(short ? SHORT_FAULTS : FULL_FAULTS) },
    seed: given.seed ? positiveInteger('--seed', given.seed) : undefined,
    waves: given.waves ? positiveInteger('--waves', given.waves) : short ? 4 : 10,
    outageMs: short ? [5_000, 10_000] : [10_000, 30_000],
    deadlineMs: (given.deadline ? positiveInteger('--deadline', given.deadline) : short ? 150 : 420) * 1000,
    keep: given.keep === 'yes',
  };
}
