import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Where a stage's CPU went: the CPU time of each server of the stack (the process in its
 * `.stack/<service>/<service>.pid` and everything under it, such as PostgreSQL's backends) and of
 * `lethe run`, between two samples of /proc, beside the machine's busy time. Linux only; a
 * process that cannot be read counts nothing.
 */
export interface CpuSplit {
  /** CPU seconds per process group over the interval, `lethe` for the lethe run child. */
  seconds: Record<string, number>;
  /** The machine's busy CPU seconds (every core), and how many core-seconds the interval had. */
  busy: number;
  capacity: number;
}

const TICKS_PER_SECOND = 100;

interface ProcStat {
  ppid: number;
  /** utime + stime, and the reaped children's cutime + cstime, in ticks. */
  own: number;
  reaped: number;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: fields start after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const n = (i: number) => Number(fields[i - 3]);
    return { ppid: n(4), own: n(14) + n(15), reaped: n(16) + n(17) };
  } catch {
    return undefined;
  }
}

/** Ticks of every process under a root (a server's process): its own time, and for a root what it reaped. */
function treeTicks(roots: ReadonlyMap<string, number>): Map<number, { root: string; ticks: number }> {
  const stats = new Map<number, ProcStat>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat) stats.set(Number(entry), stat);
  }
  const rootOf = new Map([...roots].map(([name, pid]) => [pid, name]));
  const out = new Map<number, { root: string; ticks: number }>();
  for (const [pid, stat] of stats) {
    let cur: number | undefined = pid;
    for (let hops = 0; cur !== undefined && cur > 1 && hops < 64; hops += 1) {
      const root = rootOf.get(cur);
      if (root !== undefined) {
        out.set(pid, { root, ticks: stat.own + (cur === pid ? stat.reaped : 0) });
        break;
      }
      cur = stats.get(cur)?.ppid;
    }
  }
  return out;
}

function machineTicks(): { busy: number; total: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = cpu.reduce((a, b) => a + b, 0);
  // idle and iowait are not busy.
  return { busy: total - cpu[3]! - (cpu[4] ?? 0), total };
}

/** The stack's servers by their pid files under `stackDir`, and the lethe child. */
export function processRoots(stackDir: string, lethePid: number): Map<string, number> {
  const roots = new Map<string, number>([['lethe', lethePid]]);
  for (const service of readdirSync(stackDir, { withFileTypes: true })) {
    if (!service.isDirectory()) continue;
    try {
      const pid = Number(readFileSync(join(stackDir, service.name, `${service.name}.pid`), 'utf8').trim());
      if (pid > 0) roots.set(service.name, pid);
    } catch {
      // Not a server's directory.
    }
  }
  return roots;
}

/**
 * A first sample now; `end(labels)` gives the split since, a process of a root named in `labels`
 * (PostgreSQL's backends by what they serve) counted as `<root>:<label>`, its other processes as
 * the root.
 */
export function cpuSplitFrom(roots: ReadonlyMap<string, number>): { end(labels?: ReadonlyMap<number, string>): CpuSplit } {
  const before = treeTicks(roots);
  const machineBefore = machineTicks();
  return {
    end(labels = new Map()) {
      const after = treeTicks(roots);
      const machineAfter = machineTicks();
      const seconds: Record<string, number> = {};
      for (const name of roots.keys()) seconds[name] = 0;
      for (const [pid, { root, ticks }] of after) {
        const label = labels.get(pid);
        const group = label === undefined ? root : `${root}:${label}`;
        seconds[group] = (seconds[group] ?? 0) + Math.max(0, ticks - (before.get(pid)?.ticks ?? 0)) / TICKS_PER_SECOND;
      }
      return { seconds, busy: (machineAfter.busy - machineBefore.busy) / TICKS_PER_SECOND, capacity: (machineAfter.total - machineBefore.total) / TICKS_PER_SECOND };
    },
  };
}

/** One line: each group's CPU milliseconds per erasure, largest first, and how busy the machine was. */
export function describeCpuSplit(split: CpuSplit, erasures: number): string {
  const per = (s: number) => ((s * 1000) / erasures).toFixed(2);
  const groups = Object.entries(split.seconds)
    .filter(([, s]) => s > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([name, s]) => `${name} ${per(s)}`)
    .join(', ');
  const busy = split.capacity > 0 ? Math.round((split.busy / split.capacity) * 100) : 0;
  return `CPU ms per erasure: ${groups}; machine ${busy}% busy (${per(split.busy)} ms per erasure in all)`;
}
