import type { Redis } from 'ioredis';
import { inChunks, type ReferenceResult } from './in-chunks.js';

/**
 * The Redis sink's work written by hand with ioredis, for the bench to compare the sink with:
 * per chunk of subjects, one pipeline of the literal UNLINKs, the HDELs and the SREMs with their
 * verification (EXISTS, HEXISTS, SISMEMBER) behind them in the same pipeline; one SCAN pass of
 * the keyspace for the chunk's session pattern (MATCH on the common prefix, COUNT 500 as the
 * sink pages, each key matched to a subject of the chunk), UNLINK of what it found, and the
 * same SCAN again as the pattern's verification. `concurrency` chunks at a time, as the sink's
 * partitions.
 */
export interface RedisNames {
  user(id: string): string;
  /** The pattern's common prefix (before the subject), and how a key found names its subject. */
  sessionPrefix: string;
  sessionSubject(key: string): string | undefined;
  emails: string;
  active: string;
}


async function scanAll(redis: Redis, match: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 500);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return found;
}

export async function redisReference(redis: Redis, names: RedisNames, ids: readonly string[], chunk: number, concurrency: number): Promise<ReferenceResult> {
  return inChunks(ids, chunk, concurrency, async (slice) => {
    const wanted = new Set(slice);
    const pipeline = redis.pipeline();
    for (const id of slice) pipeline.unlink(names.user(id)).hdel(names.emails, id).srem(names.active, id);
    for (const id of slice) pipeline.exists(names.user(id)).hexists(names.emails, id).sismember(names.active, id);
    const replies = (await pipeline.exec()) ?? [];
    const numbers = replies.map(([error, value]) => {
      if (error) throw error;
      return Number(value);
    });
    const half = numbers.length / 2;
    let affected = numbers.slice(0, half).reduce((a, b) => a + b, 0);
    let residual = numbers.slice(half).reduce((a, b) => a + b, 0);
    const mine = (keys: string[]) => keys.filter((k) => wanted.has(names.sessionSubject(k) ?? ''));
    const found = mine(await scanAll(redis, `${names.sessionPrefix}*`));
    for (let j = 0; j < found.length; j += 500) affected += await redis.unlink(...found.slice(j, j + 500));
    residual += mine(await scanAll(redis, `${names.sessionPrefix}*`)).length;
    return { affected, residual };
  });
}
