import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { endpoints } from '../../support/endpoints.js';
import { uniqueName } from '../../support/names.js';

// Proves the stack's Redis answers the commands the Redis sink uses: SET, SCAN MATCH in pages
// (never KEYS), UNLINK.
describe('Redis', () => {
  it('sets keys, finds a pattern with SCAN and unlinks them', async () => {
    const redis = new Redis(endpoints().redisUrl);
    await using _ = { [Symbol.asyncDispose]: async () => void redis.disconnect() };
    const prefix = uniqueName('t');
    const mine = Array.from({ length: 250 }, (_, i) => `${prefix}:session:${i}`);
    const neighbour = `${prefix}x:session:0`;
    await redis.mset(...mine.flatMap((k) => [k, 'v']), neighbour, 'v');

    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:session:*`, 'COUNT', 100);
      found.push(...keys);
      cursor = next;
    } while (cursor !== '0');
    expect(new Set(found)).toEqual(new Set(mine));

    expect(await redis.unlink(...found)).toBe(mine.length);
    expect(await redis.exists(...mine)).toBe(0);
    expect(await redis.exists(neighbour)).toBe(1);
    await redis.unlink(neighbour);
  });
});
