import pg from 'pg';
import type { Catalog } from '../catalog/catalog.js';
import { checkSource, type Finding } from '../cdc/source-checks.js';
import { inspectSource } from '../cdc/source-inspection.js';
import { ServiceUnavailableError } from '../errors.js';

/** Connects to the catalog's source database, or fails naming it. */
export async function connectSource(catalog: Catalog): Promise<pg.Client> {
  const db = new pg.Client({ connectionString: catalog.source.url, connectionTimeoutMillis: 10_000 });
  try {
    await db.connect();
  } catch (error) {
    throw new ServiceUnavailableError('postgres', `cannot connect to source.url: ${(error as Error).message}`, { cause: error });
  }
  return db;
}

export async function diagnose(db: pg.ClientBase, catalog: Catalog): Promise<Finding[]> {
  return checkSource(catalog, await inspectSource(db, catalog));
}
