import type pg from 'pg';
import type { Catalog } from '../catalog/catalog.js';
import { tableKey, type TableRef } from '../catalog/identifiers.js';
import { findSlot, type SlotState } from './source-database.js';

/** What the primary database says about the catalog's tables, read once for doctor and init. */
export interface SourceFacts {
  walLevel: string;
  tables: Map<string, TableFacts>;
  publication: {
    exists: boolean;
    /** Tables whose changes the publication decodes: each published table and its partition ancestors. */
    tables: Set<string>;
    publishes: { update: boolean; delete: boolean; truncate: boolean };
    /** publish_via_partition_root: a partition's changes carry its root's name. */
    viaRoot: boolean;
  };
  slot: SlotState | undefined;
}

/** One relation's replica identity: what a delete of its rows carries in the old row. */
export interface IdentityFacts {
  table: TableRef;
  /** d(efault), n(othing), f(ull) or i(ndex), as pg_class.relreplident. */
  replicaIdentity: 'd' | 'n' | 'f' | 'i' | undefined;
  /** Columns the replica identity carries in a delete's old row (all columns for FULL). */
  identityColumns: Set<string>;
}

export interface TableFacts extends IdentityFacts {
  exists: boolean;
  columns: Set<string>;
  /** The primary key's columns in key order; empty without one. */
  primaryKey: string[];
  /** pg_class.relkind = 'p'. */
  partitioned: boolean;
  /**
   * A partitioned table's leaf partitions. Each writes its own old rows to the WAL, by its own
   * replica identity, which ALTER TABLE on the parent does not change.
   */
  partitions: IdentityFacts[];
}

// Per relation c: its columns, and the columns of its identity index (primary key or the index
// REPLICA IDENTITY USING INDEX names).
const RELATION_COLUMNS = `
  (SELECT array_agg(a.attname::text) FROM pg_attribute a
    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
  (SELECT array_agg(a.attname::text)
     FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) AS k(attnum)
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
    WHERE i.indrelid = c.oid
      AND ((c.relreplident = 'd' AND i.indisprimary) OR (c.relreplident = 'i' AND i.indisreplident))) AS identity,
  (SELECT array_agg(a.attname::text ORDER BY k.ord)
     FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
    WHERE i.indrelid = c.oid AND i.indisprimary) AS primary_key`;

interface RelationRow {
  schema: string;
  name: string;
  replident: IdentityFacts['replicaIdentity'];
  columns: string[] | null;
  identity: string[] | null;
  primary_key: string[] | null;
}

function identityOf(row: RelationRow): IdentityFacts {
  return {
    table: { schema: row.schema, name: row.name },
    replicaIdentity: row.replident,
    identityColumns: new Set(row.replident === 'f' ? (row.columns ?? []) : (row.identity ?? [])),
  };
}

export async function inspectSource(db: pg.ClientBase, catalog: Catalog): Promise<SourceFacts> {
  const refs = catalog.tables().map((t) => t.table);
  const names = [refs.map((r) => r.schema), refs.map((r) => r.name)];
  const { rows: settings } = await db.query<{ wal_level: string }>("SELECT current_setting('wal_level') AS wal_level");

  const { rows: tableRows } = await db.query<RelationRow & { relkind: string }>(
    `SELECT n.nspname AS schema, c.relname AS name, c.relreplident AS replident, c.relkind, ${RELATION_COLUMNS}
       FROM unnest($1::text[], $2::text[]) AS t(schema, name)
       JOIN pg_namespace n ON n.nspname = t.schema
       JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.name AND c.relkind IN ('r', 'p')`,
    names,
  );
  const { rows: partitionRows } = await db.query<RelationRow & { root_schema: string; root_name: string }>(
    `SELECT t.schema AS root_schema, t.name AS root_name, n.nspname AS schema, c.relname AS name, c.relreplident AS replident, ${RELATION_COLUMNS}
       FROM unnest($1::text[], $2::text[]) AS t(schema, name)
       JOIN pg_namespace rn ON rn.nspname = t.schema
       JOIN pg_class r ON r.relnamespace = rn.oid AND r.relname = t.name AND r.relkind = 'p'
       CROSS JOIN LATERAL pg_partition_tree(r.oid) AS p
       JOIN pg_class c ON c.oid = p.relid AND p.isleaf AND c.relkind = 'r'
       JOIN pg_namespace n ON n.oid = c.relnamespace
      ORDER BY n.nspname, c.relname`,
    names,
  );
  const tables = new Map<string, TableFacts>();
  for (const ref of refs) {
    tables.set(tableKey(ref), { table: ref, exists: false, columns: new Set(), primaryKey: [], replicaIdentity: undefined, identityColumns: new Set(), partitioned: false, partitions: [] });
  }
  for (const row of tableRows) {
    tables.set(tableKey(row), {
      ...identityOf(row),
      exists: true,
      columns: new Set(row.columns ?? []),
      primaryKey: row.primary_key ?? [],
      partitioned: row.relkind === 'p',
      partitions: partitionRows.filter((p) => p.root_schema === row.schema && p.root_name === row.name).map(identityOf),
    });
  }

  const { rows: pubRows } = await db.query<{ pubupdate: boolean; pubdelete: boolean; pubtruncate: boolean; pubviaroot: boolean }>(
    'SELECT pubupdate, pubdelete, pubtruncate, pubviaroot FROM pg_publication WHERE pubname = $1',
    [catalog.source.publication],
  );
  // pg_publication_tables lists the leaf partitions of a partitioned table when the publication
  // does not publish via the root; their ancestors count as published too, so such a table is
  // reported for publish_via_partition_root, not as missing from the publication.
  const { rows: pubTables } = await db.query<{ schema: string; name: string }>(
    `SELECT DISTINCT n.nspname AS schema, c.relname AS name
       FROM pg_publication_tables pt
       JOIN pg_namespace pn ON pn.nspname = pt.schemaname
       JOIN pg_class p ON p.relnamespace = pn.oid AND p.relname = pt.tablename
       CROSS JOIN LATERAL (SELECT p.oid UNION SELECT relid FROM pg_partition_ancestors(p.oid)) AS a(relid)
       JOIN pg_class c ON c.oid = a.relid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE pt.pubname = $1`,
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
      viaRoot: pub?.pubviaroot ?? false,
    },
    slot: await findSlot(db, catalog.source.slot),
  };
}
