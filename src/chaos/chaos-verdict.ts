import { FAULT_KINDS, totalFaults, type FaultCounts } from './chaos-plan.js';

/** Something a store still holds of an erased user, or changed of a neighbour: the store and a key or id, never a value. */
export interface Finding {
  user: number;
  store: 'redis' | 'elasticsearch' | 'bigquery' | 'compacted';
  /** The key, document id, table row or topic key at fault. */
  item: string;
}

export interface ChaosResult {
  erasures: number;
  /** Per erased user: data an erased user still has somewhere. */
  left: Finding[];
  /** Per neighbour: data changed or gone. */
  touched: Finding[];
  /** The tracker's status per erased user (`missing` when it holds no erasure of the user). */
  statuses: Map<number, string>;
  faults: FaultCounts;
  seed: number;
  elapsedMs: number;
}

function countUsers(findings: Finding[]): number {
  return new Set(findings.map((f) => f.user)).size;
}

export function statusCounts(statuses: Map<number, string>): { complete: number; failed: number; other: number } {
  let complete = 0;
  let failed = 0;
  for (const s of statuses.values()) {
    if (s === 'complete') complete += 1;
    else if (s === 'failed') failed += 1;
  }
  return { complete, failed, other: statuses.size - complete - failed };
}

/** The one line a chaos run ends with. */
export function summaryLine(r: ChaosResult): string {
  const s = statusCounts(r.statuses);
  const kinds = FAULT_KINDS.filter((k) => r.faults[k] > 0).map((k) => `${k} ${r.faults[k]}`);
  return (
    `chaos: erasures ${r.erasures}, subjects with data left ${countUsers(r.left)}, neighbours touched ${countUsers(r.touched)}, ` +
    `statuses complete ${s.complete} / failed ${s.failed} / other ${s.other}, ` +
    `faults ${totalFaults(r.faults)}${kinds.length > 0 ? ` (${kinds.join(', ')})` : ''}, seed ${r.seed}, ${Math.round(r.elapsedMs / 1000)} s`
  );
}

/** Passes only with nothing left, nothing touched, and every erasure complete. */
export function passed(r: ChaosResult): boolean {
  return r.left.length === 0 && r.touched.length === 0 && statusCounts(r.statuses).complete === r.erasures;
}

/** What is wrong, store by store and status by status, at most `limit` users each: keys and ids only. */
export function problemLines(r: ChaosResult, limit = 20): string[] {
  const lines: string[] = [];
  const byStore = (title: string, findings: Finding[]) => {
    const stores = [...new Set(findings.map((f) => f.store))].sort();
    for (const store of stores) {
      const of = findings.filter((f) => f.store === store);
      const users = [...new Set(of.map((f) => f.user))];
      const shown = users.slice(0, limit).map((u) => `${u} [${of.filter((f) => f.user === u).map((f) => f.item).join(', ')}]`);
      lines.push(`${title} in ${store}: ${users.length} user(s): ${shown.join('; ')}${users.length > limit ? '; …' : ''}`);
    }
  };
  byStore('data left', r.left);
  byStore('neighbours touched', r.touched);
  const notComplete = new Map<string, number[]>();
  for (const [user, status] of r.statuses) {
    if (status !== 'complete') notComplete.set(status, [...(notComplete.get(status) ?? []), user]);
  }
  for (const [status, users] of [...notComplete].sort()) {
    lines.push(`status ${status}: ${users.length} user(s): ${users.slice(0, limit).join(', ')}${users.length > limit ? ', …' : ''}`);
  }
  return lines;
}
