import pg from 'pg';
import { sleep } from '../retry.js';
import { FAULT_KINDS, type ChaosPlan, type ErasureTransaction, type FaultCounts } from './chaos-plan.js';
import type { ShopNames } from './chaos-shop.js';
import type { LetheSupervisor } from './lethe-supervisor.js';
import type { StackControl } from './stack-control.js';

/**
 * Plays the plan against the real system: the waves of erasures in PostgreSQL, the SIGKILLs of
 * `lethe run`, and the outages (stop, wait, start), three strands at once. Outages follow one
 * another, each no earlier than planned. Returns the faults actually injected.
 */
export async function playTimeline(
  plan: ChaosPlan,
  p: { db: pg.Client; names: ShopNames; lethe: LetheSupervisor; stack: StackControl; say: (line: string) => void },
): Promise<FaultCounts> {
  const injected = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as FaultCounts;
  const t0 = Date.now();
  const at = (ms: number) => sleep(Math.max(0, t0 + ms - Date.now()));
  const say = (line: string) => p.say(`${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s  ${line}`);

  const waves = (async () => {
    for (const [i, wave] of plan.waves.entries()) {
      await at(wave.atMs);
      const users = wave.transactions.reduce((sum, t) => sum + t.users.length, 0);
      for (const t of wave.transactions) await commitErasure(p.db, p.names, t);
      say(`wave ${i + 1}/${plan.waves.length}: ${users} user(s) erased in ${wave.transactions.length} transaction(s)`);
    }
  })();
  const kills = (async () => {
    for (const kill of plan.kills) {
      await at(kill.atMs);
      const pid = await p.lethe.kill();
      if (pid === undefined) {
        say('kill: lethe run is not running at this moment (restarting); skipped');
        continue;
      }
      injected.kill += 1;
      say(`SIGKILL lethe run (pid ${pid}); started again in ${(kill.restartAfterMs / 1000).toFixed(1)} s`);
      await sleep(kill.restartAfterMs);
      p.lethe.start();
    }
  })();
  const outages = (async () => {
    for (const [i, outage] of plan.outages.entries()) {
      // A slow stop or start (Elasticsearch takes 10-25 s to start) pushes the plan back; the
      // planned gap after the previous outage is kept all the same, so the system gets its breath.
      const previous = plan.outages[i - 1];
      const gapMs = previous ? outage.atMs - previous.atMs - previous.durationMs : 0;
      await Promise.all([at(outage.atMs), sleep(gapMs)]);
      say(`${outage.service}: stopping for ${(outage.durationMs / 1000).toFixed(1)} s`);
      await p.stack.down(outage.service);
      injected[outage.service] += 1;
      await sleep(outage.durationMs);
      const started = Date.now();
      await p.stack.up(outage.service);
      say(`${outage.service}: up again (start took ${((Date.now() - started) / 1000).toFixed(1)} s)`);
    }
  })();
  // Every strand runs to its end even if another failed, so no service is left stopped.
  const results = await Promise.allSettled([waves, kills, outages]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return injected;
}

/** One transaction of the application: users deleted (their orders cascade), or anonymized in place with their orders deleted. */
async function commitErasure(db: pg.Client, n: ShopNames, t: ErasureTransaction): Promise<void> {
  const s = pg.escapeIdentifier(n.run);
  await db.query('BEGIN');
  try {
    if (t.mode === 'delete') {
      await db.query(`DELETE FROM ${s}.users WHERE id = ANY($1::bigint[])`, [t.users]);
    } else {
      await db.query(`UPDATE ${s}.users SET erased_at = now(), email = 'erased', name = 'erased' WHERE id = ANY($1::bigint[])`, [t.users]);
      await db.query(`DELETE FROM ${s}.orders WHERE user_id = ANY($1::bigint[])`, [t.users]);
    }
    await db.query('COMMIT');
  } catch (error) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
