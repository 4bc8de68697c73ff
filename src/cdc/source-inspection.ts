import type pg from 'pg';
import type { Catalog } from '../catalog/catalog.js';
import { tableKey, type TableRef } from '../catalog/identifiers.js';
import { findSlot, type SlotState } from './source-database.js';

/** What the primary database says about the catalog's tables, read once for doctor and init. */
export interface SourceFacts {
  walLevel: string;
  tables: Map<string, TableFacts>;
  publication: { exists: boolean; tables: Set<string>; publishes: { update: boolean; delete: boolean; truncate: boolean } };
  slot: SlotState | undefined;
}

export interface TableFacts {
  table: TableRef;
  exists: boolean;
  columns: Set<string>;
  /** d(efault), n(othing), f(ull) or i(ndex), as pg_class.relreplident. */
  replicaIdentity: 'd' | 'n' | 'f' | 'i' | undefined;
  /** Columns the replica identity carries in a delete's old row (all columns for FULL). */
  identityColumns: Set<string>;
}

export async function inspectSource(db: pg.ClientBase, catalog: Catalog): Promise<SourceFacts> {
  const refs = catalog.tables().map((t) => t.table);
  const { rows: settings } = await db.query<{ wal_level: string }>("SELECT current_setting('wal_level') AS wal_level");

  const { rows: tableRows } = await db.query<{ schema: string; name: string; replident: TableFacts['replicaIdentity']; columns: string[]; identity: string[] | null }>(
    `SELECT n.nspname AS schema, c.relname AS name, c.relreplident AS replident,
            (SELECT array_agg(a.attname::text) FROM pg_attribute a
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
            (SELECT array_agg(a.attname::text)
               FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) AS k(attnum)
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
              WHERE i.indrelid = c.oid
                AND ((c.relreplident = 'd' AND i.indisprimary) OR (c.relreplident = 'i' AND i.indisreplident))) AS identity
       FROM unnest($1::text[], $2::text[]) AS t(schema, name)
       JOIN pg_namespace n ON n.nspname = t.schema
       JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.name AND c.relkind IN ('r', 'p')`,
    [refs.map((r) => r.schema), refs.map((r) => r.name)],
  );
  const tables = new Map<string, TableFacts>();
  for (const ref of refs) tables.set(tableKey(ref), { table: ref, exists: false, columns: new Set(), replicaIdentity: undefined, identityColumns: new Set() });
  for (const row of tableRows) {
    const columns = new Set(row.columns ?? []);
    tables.set(tableKey({ schema: row.schema, name: row.name }), {
      table: { schema: row.schema, name: row.name },
      exists: true,
      columns,
      replicaIdentity: row.replident,
      identityColumns: row.replident === 'f' ? columns : new Set(row.identity ?? []),
    });
  }

  const { rows: pubRows } = await db.query<{ pubupdate: boolean; pubdelete: boolean; pubtruncate: boolean }>(
    'SELECT pubupdate, pubdelete, pubtruncate FROM pg_publication WHERE pubname = $1',
    [catalog.source.publication],
  );
  const { rows: pubTables } = await db.query<{ schema: string; name: string }>(
    'SELECT schemaname AS schema, tablename AS name FROM pg_publication_tables WHERE pubname = $1',
    [catalog.source.publication],
  );
  const pub = pubRows[0];
  return {
    walLevel: settings[0]!.wal_level,
    tables,
    publication: {
      exists: pub !== undefined,
      tables: new Set(pubTables.map((t) => tableKey(t))),
      publishes: { update: pub?.pubupdate ?? false, delete: pub?.pubdelete ?? false, truncate: pub?.pubtruncate ?? false },
    },
    slot: await findSlot(db, catalog.source.slot),
  };
}
