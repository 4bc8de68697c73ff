import pg from 'pg';

/**
 * Serializes whoever creates the tables of one tracker schema (the tracker, the request worker,
 * every sink's holds tables) until their transaction ends: concurrent CREATE … IF NOT EXISTS of
 * the same objects can otherwise deadlock or collide on the system catalogs' unique indexes.
 */
export function schemaLockSql(schema: string): string {
  return `SELECT pg_advisory_xact_lock(hashtext(${pg.escapeLiteral(`lethe tracker schema ${schema}`)}));`;
}
