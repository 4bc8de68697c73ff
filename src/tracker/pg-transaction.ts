import type pg from 'pg';

/**
 * Runs `work` in one transaction on a client of `pool`, rolled back on any error; every error,
 * connecting included, leaves through `translate` (each store classifies its own: unreachable is
 * a wait).
 */
export async function inTransaction<T>(pool: pg.Pool, work: (db: pg.PoolClient) => Promise<T>, translate: (error: unknown) => unknown): Promise<T> {
  const db = await pool.connect().catch((error: unknown) => Promise.reject(translate(error)));
  try {
    await db.query('BEGIN');
    const result = await work(db);
    await db.query('COMMIT');
    return result;
  } catch (error) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw translate(error);
  } finally {
    db.release();
  }
}
