import pg from 'pg';
import { sleep } from '../retry.js';
import type { ShopNames } from './chaos-shop.js';

/**
 * The tracker's view, read from its PostgreSQL store: the status of each erased user's erasure
 * (`missing` when the tracker holds none), and for the ones not complete, which target and why.
 */
export async function trackerStatuses(db: pg.Client, n: ShopNames, erased: number[]): Promise<Map<number, string>> {
  const { rows } = await db.query<{ subject_id: string; status: string }>(
    `SELECT subject_id, status FROM ${pg.escapeIdentifier(n.trackerSchema)}.erasures WHERE subject_type = 'user'`,
  );
  const byUser = new Map<number, string[]>();
  for (const r of rows) byUser.set(Number(r.subject_id), [...(byUser.get(Number(r.subject_id)) ?? []), r.status]);
  // One erasure per user is expected; a second one that is not complete would still count against it.
  return new Map(
    erased.map((u) => {
      const statuses = byUser.get(u) ?? [];
      const worst = statuses.find((s) => s === 'failed') ?? statuses.find((s) => s !== 'complete') ?? statuses[0] ?? 'missing';
      return [u, worst];
    }),
  );
}

interface StoredTarget {
  sink: string;
  target: string;
  state: string;
  error?: string | null;
}

/** A line per target that is not done, of up to `limit` erasures: `user 42 failed: elasticsearch chaos-x-users failed (reason)`. */
export async function unfinishedTargets(db: pg.Client, n: ShopNames, limit: number): Promise<string[]> {
  const { rows } = await db.query<{ subject_id: string; status: string; state: { targets?: StoredTarget[] } }>(
    `SELECT subject_id, status, state FROM ${pg.escapeIdentifier(n.trackerSchema)}.erasures WHERE status <> 'complete' ORDER BY status, subject_id LIMIT $1`,
    [limit],
  );
  return rows.map((r) => {
    const open = (r.state.targets ?? []).filter((t) => !['applied', 'nothing_to_do', 'confirmed', 'retained', 'expired'].includes(t.state));
    const described = open.map((t) => `${t.sink} ${t.target} ${t.state}${t.error ? ` (${t.error.slice(0, 160)})` : ''}`);
    return `user ${r.subject_id} ${r.status}: ${described.join('; ') || 'no open target'}`;
  });
}

/**
 * Waits until every erased user's erasure is complete, the deadline passes, or nothing has changed
 * for `stallMs` (a failed erasure stays failed; waiting longer would only delay the verdict).
 */
export async function waitForCompletion(
  db: pg.Client,
  n: ShopNames,
  erased: number[],
  o: { deadlineMs: number; stallMs: number; say: (line: string) => void },
): Promise<void> {
  const started = Date.now();
  let last = '';
  let lastChange = Date.now();
  for (;;) {
    const counts = new Map<string, number>();
    for (const s of (await trackerStatuses(db, n, erased)).values()) counts.set(s, (counts.get(s) ?? 0) + 1);
    const text = [...counts].sort().map(([s, c]) => `${s} ${c}`).join(', ');
    if (text !== last) {
      o.say(`tracker: ${text}`);
      last = text;
      lastChange = Date.now();
    }
    if ((counts.get('complete') ?? 0) === erased.length) return;
    if (Date.now() - started > o.deadlineMs) return o.say(`deadline: not every erasure complete ${Math.round(o.deadlineMs / 1000)} s after the last fault`);
    if (Date.now() - lastChange > o.stallMs) return o.say(`no change in the tracker for ${Math.round(o.stallMs / 1000)} s: checking the stores now`);
    await sleep(2000);
  }
}
