import type pg from 'pg';
import type { TableRef } from '../catalog/identifiers.js';
import type { ForeignKey, OnDelete } from './erasure-plan.js';

/**
 * The foreign keys among a set of tables, from pg_constraint: what the executor orders its
 * deletes by and what doctor reports conflicts from. Constraints a partition inherits from its
 * parent (conparentid set) are the parent's, listed once.
 */
export async function readForeignKeys(db: pg.ClientBase, tables: readonly TableRef[]): Promise<ForeignKey[]> {
  if (tables.length === 0) return [];
  const { rows } = await db.query<{
    constraint: string;
    from_schema: string;
    from_name: string;
    to_schema: string;
    to_name: string;
    on_delete: OnDelete;
    deferrable: boolean;
    columns: string[];
  }>(
    `WITH t AS (SELECT * FROM unnest($1::text[], $2::text[]) AS t(schema, name))
     SELECT c.conname::text AS constraint, fn.nspname::text AS from_schema, fc.relname::text AS from_name,
            tn.nspname::text AS to_schema, tc.relname::text AS to_name, c.confdeltype::text AS on_delete,
            c.condeferrable AS deferrable,
            (SELECT array_agg(a.attname::text ORDER BY k.ord)
               FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) AS columns
       FROM pg_constraint c
       JOIN pg_class fc ON fc.oid = c.conrelid JOIN pg_namespace fn ON fn.oid = fc.relnamespace
       JOIN pg_class tc ON tc.oid = c.confrelid JOIN pg_namespace tn ON tn.oid = tc.relnamespace
      WHERE c.contype = 'f' AND c.conparentid = 0
        AND (fn.nspname::text, fc.relname::text) IN (SELECT schema, name FROM t)
        AND (tn.nspname::text, tc.relname::text) IN (SELECT schema, name FROM t)
      ORDER BY c.conname`,
    [tables.map((t) => t.schema), tables.map((t) => t.name)],
  );
  return rows.map((r) => ({
    constraint: r.constraint,
    from: { schema: r.from_schema, name: r.from_name },
    columns: r.columns,
    to: { schema: r.to_schema, name: r.to_name },
    onDelete: r.on_delete,
    deferrable: r.deferrable,
  }));
}
