import type pg from 'pg';
import { tableKey, type TableRef } from '../catalog/identifiers.js';
import { LetheError } from '../errors.js';

export interface SlotState {
  plugin: string | null;
  active: boolean;
  /** The server process streaming from the slot while it is active. */
  activePid: number | null;
  confirmedFlushLsn: string;
  /** Bytes of WAL the slot holds back (from its restart LSN to the current WAL position). */
  retainedBytes: number;
  walStatus: string | null;
}

/** The replication slot as the primary reports it, or undefined when it does not exist. */
export async function findSlot(db: pg.ClientBase, slot: string): Promise<SlotState | undefined> {
  const { rows } = await db.query<{
    plugin: string | null;
    active: boolean;
    active_pid: number | null;
    confirmed_flush_lsn: string | null;
    retained_bytes: string | null;
    wal_status: string | null;
  }>(
    `SELECT plugin, active, active_pid, confirmed_flush_lsn::text,
            pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text AS retained_bytes, wal_status
       FROM pg_replication_slots WHERE slot_name = $1 AND slot_type = 'logical'`,
    [slot],
  );
  const row = rows[0];
  if (!row) return undefined;
  return {
    plugin: row.plugin,
    active: row.active,
    activePid: row.active_pid,
    confirmedFlushLsn: row.confirmed_flush_lsn ?? '0/0',
    retainedBytes: Number(row.retained_bytes ?? 0),
    walStatus: row.wal_status,
  };
}

/** The slot the reader streams from; a missing or foreign slot is a permanent error. */
export async function readSlot(db: pg.ClientBase, slot: string): Promise<SlotState> {
  const state = await findSlot(db, slot);
  if (!state) {
    throw new LetheError('SLOT_MISSING', `replication slot '${slot}' does not exist: run \`lethe init\``);
  }
  if (state.plugin !== 'pgoutput') {
    throw new LetheError('SLOT_PLUGIN', `replication slot '${slot}' uses plugin '${state.plugin}', Lethe needs 'pgoutput'`);
  }
  if (state.walStatus === 'lost') {
    throw new LetheError(
      'SLOT_LOST',
      `replication slot '${slot}' was invalidated (wal_status = lost, max_slot_wal_keep_size exceeded): ` +
        'erasures in the lost WAL cannot be read; recreate the slot and reconcile downstream stores',
    );
  }
  return state;
}

/**
 * The slot streams to another reader (a Lethe instance elsewhere, or a session of this one whose
 * walsender has not ended yet): this reader stands by until it is free. Retriable, and not a failure.
 */
export class SlotActiveError extends LetheError {
  constructor(
    readonly slot: string,
    readonly activePid: number | null,
    options: { cause?: unknown } = {},
  ) {
    super('SLOT_ACTIVE', `replication slot '${slot}' is active for PID ${activePid ?? 'unknown'}`, { retriable: true, ...options });
  }
}

/** START_REPLICATION refused because another connection streams from the slot (SQLSTATE 55006, object_in_use). */
export function asSlotActiveError(error: unknown, slot: string): SlotActiveError | undefined {
  if ((error as { code?: unknown } | null)?.code !== '55006') return undefined;
  const pid = /PID (\d+)/i.exec((error as Error).message)?.[1];
  return new SlotActiveError(slot, pid === undefined ? null : Number(pid), { cause: error });
}

/** Primary key columns of each table, keyed by tableKey(); tables without one are absent. */
export async function loadPrimaryKeys(db: pg.ClientBase, tables: readonly TableRef[]): Promise<Map<string, string[]>> {
  const keys = new Map<string, string[]>();
  if (tables.length === 0) return keys;
  const { rows } = await db.query<{ schema: string; name: string; columns: string[] }>(
    `SELECT n.nspname AS schema, c.relname AS name,
            array_agg(a.attname::text ORDER BY k.ord) AS columns
       FROM unnest($1::text[], $2::text[]) AS t(schema, name)
       JOIN pg_namespace n ON n.nspname = t.schema
       JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.name
       JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
       CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
      GROUP BY n.nspname, c.relname`,
    [tables.map((t) => t.schema), tables.map((t) => t.name)],
  );
  for (const row of rows) keys.set(tableKey({ schema: row.schema, name: row.name }), row.columns);
  return keys;
}
