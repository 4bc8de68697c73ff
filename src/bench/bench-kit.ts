import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type pg from 'pg';
import { parseLsn } from '../cdc/lsn.js';
import { findSlot } from '../cdc/source-database.js';
import { sleep } from '../retry.js';

/** Shared pieces of `make bench`: logging, sizes, percentiles, and `lethe run` as a child process. */
export const log = (message: string) => process.stdout.write(`[bench] ${message}\n`);

/** A size from the environment (BENCH_*), or its default. */
export function size(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name}=${raw}: not a positive integer`);
  return n;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** A timestamp-millis field as avsc decodes it (a Date), or a number. */
export const millis = (v: unknown): number => (v instanceof Date ? v.getTime() : Number(v));

/** Polls `check` until it holds or `ms` pass; returns whether it held. Never hangs. */
export async function within(ms: number, check: () => Promise<boolean> | boolean, every = 100): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(every);
  }
}

/** Whether the slot has confirmed everything up to `lsn`. */
export async function slotPast(db: pg.ClientBase, slot: string, lsn: string): Promise<boolean> {
  const state = await findSlot(db, slot);
  return state !== undefined && parseLsn(state.confirmedFlushLsn) >= parseLsn(lsn);
}

export interface Memory {
  /** VmHWM of the child's last /proc reading (its peak resident set), MiB. */
  peakMiB: number;
  /** The highest VmRSS sampled, MiB (the fallback where VmHWM is not read). */
  sampledMiB: number;
}

function procKiB(pid: number, field: 'VmHWM' | 'VmRSS'): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined; // exited
  }
}

/**
 * `node [--max-old-space-size=<N>] bin/lethe.js -c <catalog> run [--only <service>]` as a child process (the pid is node's
 * own, so /proc/<pid>/status is Lethe's), its output in a log file, its resident set sampled
 * every 100 ms. `stop` sends SIGTERM, waits up to 15 s, then SIGKILLs; it reads VmHWM first.
 */
export class LetheChild {
  private readonly child: ChildProcess;
  private readonly sampler: NodeJS.Timeout;
  private hwmKiB = 0;
  private rssKiB = 0;
  readonly exited: Promise<number | null>;
  readonly started = Date.now();

  constructor(catalogPath: string, only: string | undefined, readonly logPath: string) {
    const out = createWriteStream(logPath);
    // BENCH_HEAP_MIB: the children under a V8 heap limit (none by default).
    // BENCH_CPU_PROF=1: a V8 CPU profile of each child, written beside its log when it stops.
    const profile = process.env.BENCH_CPU_PROF === '1' ? ['--cpu-prof', `--cpu-prof-dir=${dirname(logPath)}`] : [];
    const heap = process.env.BENCH_HEAP_MIB ? [`--max-old-space-size=${process.env.BENCH_HEAP_MIB}`] : [];
    const args = [...heap, ...profile, 'bin/lethe.js', '-c', catalogPath, 'run', ...(only ? ['--only', only] : [])];
    this.child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LETHE_LOG_LEVEL: 'warn' } });
    this.child.stdout!.pipe(out);
    this.child.stderr!.pipe(out);
    this.exited = new Promise((r) => this.child.once('exit', (code) => r(code)));
    this.sampler = setInterval(() => this.sample(), 100);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  private sample(): void {
    if (!this.running) return;
    this.rssKiB = Math.max(this.rssKiB, procKiB(this.pid, 'VmRSS') ?? 0);
    this.hwmKiB = Math.max(this.hwmKiB, procKiB(this.pid, 'VmHWM') ?? 0);
  }

  memory(): Memory {
    this.sample();
    return { peakMiB: Math.round(Math.max(this.hwmKiB, this.rssKiB) / 1024), sampledMiB: Math.round(this.rssKiB / 1024) };
  }

  async stop(): Promise<Memory> {
    const memory = this.memory();
    clearInterval(this.sampler);
    if (this.running) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
      await this.exited;
      clearTimeout(timer);
    }
    return memory;
  }
}

/** Writes a catalog (JSON is YAML) for a child under the bench's scratch directory. */
export function writeCatalog(dir: string, name: string, catalog: object): string {
  const path = resolve(dir, `${name}.yaml`);
  writeFileSync(path, `${JSON.stringify(catalog, null, 2)}\n`);
  return path;
}
