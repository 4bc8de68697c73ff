import pg from 'pg';
import type { Catalog } from '../catalog/catalog.js';
import { ServiceUnavailableError, UsageError } from '../errors.js';
import { canonicalKey } from './primary-executor.js';

/**
 * A subject named by hand (`user:042`, an upper-case uuid) must be the key as the database prints
 * it, or nothing will ever match it: events, acks and holds name subjects in that form. Checked
 * against the primary's column types when a request or a hold names a subject, so a key that
 * would never match is refused there, not silently held or executed in vain.
 */
export async function assertCanonicalKey(pool: pg.Pool, catalog: Pick<Catalog, 'subjects'>, subjectType: string, key: Record<string, string>): Promise<void> {
  const subject = catalog.subjects.find((s) => s.type === subjectType);
  if (!subject) throw new UsageError(`no subject type ${subjectType} in the catalog`);
  const missing = subject.key.filter((c) => key[c] === undefined);
  if (missing.length > 0) throw new UsageError(`${subjectType}'s key has ${subject.key.length} column(s) (${subject.key.join(', ')}): ${missing.join(', ')} not given`);
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw new ServiceUnavailableError('postgres', `checking a ${subjectType} key in the primary: ${(error as Error).message}`, { cause: error });
  }
  try {
    await canonicalKey(client, subject, subject.key.map((c) => key[c]!));
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    if (code === 'REQUEST_SUBJECT_KEY' || code === 'PRIMARY_SCHEMA') throw new UsageError((error as Error).message);
    if (error instanceof pg.DatabaseError && code.startsWith('22')) throw new UsageError(`the ${subjectType}'s key is not a value its column can hold (SQLSTATE ${code})`);
    if (error instanceof pg.DatabaseError) throw new ServiceUnavailableError('postgres', `checking a ${subjectType} key: ${error.message}`, { cause: error });
    throw error;
  } finally {
    client.release();
  }
}
