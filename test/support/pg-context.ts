import pg from 'pg';
import { endpoints } from './endpoints.js';
import { uniqueName } from './names.js';
import { waitFor } from './wait-for.js';

/**
 * A Postgres connection for one test that drops, on disposal, every replication slot,
 * publication, table and schema (with what it holds) it named: a leftover slot would hold WAL forever.
 *
 *   await using db = await pgContext();
 *   const slot = db.track('slot', uniqueName('slot'));
 */
type ObjectKind = 'slot' | 'publication' | 'table' | 'schema';

export interface PgContext extends AsyncDisposable {
  client: pg.Client;
  /** A fresh name, remembered so the object it names is dropped on disposal. */
  name(kind: ObjectKind, prefix?: string): string;
}

export async function pgContext(): Promise<PgContext> {
  const client = new pg.Client({ connectionString: endpoints().databaseUrl });
  await client.connect();
  const created: Array<{ kind: ObjectKind; name: string }> = [];
  return {
    client,
    name(kind, prefix = kind) {
      const name = uniqueName(prefix);
      created.push({ kind, name });
      return name;
    },
    async [Symbol.asyncDispose]() {
      try {
        for (const { kind, name } of created.reverse()) {
          if (kind === 'slot') await dropReplicationSlot(client, name);
          if (kind === 'publication') await client.query(`DROP PUBLICATION IF EXISTS ${pg.escapeIdentifier(name)}`);
          if (kind === 'table') await client.query(`DROP TABLE IF EXISTS ${pg.escapeIdentifier(name)} CASCADE`);
          if (kind === 'schema') await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(name)} CASCADE`);
        }
      } finally {
        await client.end();
      }
    },
  };
}

/**
 * An active slot cannot be dropped, and a stopped stream's walsender takes a moment to exit:
 * wait for it, terminate it if it lingers, then drop.
 */
export async function dropReplicationSlot(client: pg.Client, slot: string): Promise<void> {
  const activePid = async (): Promise<number | null | undefined> => {
    const { rows } = await client.query<{ active_pid: number | null }>(
      'SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1',
      [slot],
    );
    return rows.length === 0 ? undefined : rows[0]!.active_pid;
  };
  try {
    await waitFor(async () => (await activePid()) === null || (await activePid()) === undefined, {
      timeoutMs: 3_000,
      what: `slot ${slot} to become inactive`,
    });
  } catch {
    await client.query(
      'SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL',
      [slot],
    );
    await waitFor(async () => !(await activePid()), { timeoutMs: 5_000, what: `slot ${slot} to be released` });
  }
  await client.query(
    'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
}
