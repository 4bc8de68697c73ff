import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { asBytes, globToRegExp } from '../../../connectors/redis-glob.js';
import { RedisConnector } from '../../../connectors/redis-connector.js';
import { escapeGlob } from '../../../src/catalog/key-template.js';
import { endpoints } from '../../support/endpoints.js';
import { uniqueName } from '../../support/names.js';
import { accountErased, sinkFixture, userErased } from '../../support/sink-fixture.js';
import { waitFor } from '../../support/wait-for.js';

describe('Redis sink', () => {
  it('erases keys, patterns, hash fields, set and sorted-set members and related keys, and nothing of the neighbour', async () => {
    const p = uniqueName('r');
    await using fx = await sinkFixture(`  redis:
    url: ${endpoints().redisUrl}
    user:
      keys: ["${p}:user:{subject}", "${p}:session:{subject}:*"]
      hashFields: [{ key: "${p}:emails", field: "{subject}" }]
      setMembers: [{ key: "${p}:online", member: "{subject}" }, { key: "${p}:ranking", member: "u{key.id}" }]
      related: { public.orders: ["${p}:order:{row.id}"] }
`);
    const redis = new Redis(endpoints().redisUrl);
    await using _ = { [Symbol.asyncDispose]: async () => void redis.disconnect() };
    // Subject 4*2 (glob characters in the id must not widen the pattern) and neighbour 42.
    const subject = '4*2';
    const seed = async (id: string) => {
      await redis.set(`${p}:user:${id}`, 'profile');
      for (let i = 0; i < 700; i++) await redis.set(`${p}:session:${id}:${i}`, 's');
      await redis.hset(`${p}:emails`, id, `${id}@seeded.example`);
      await redis.sadd(`${p}:online`, id);
      await redis.zadd(`${p}:ranking`, 1, `u${id}`);
    };
    await seed(subject);
    await seed('42');
    await redis.set(`${p}:order:9001`, 'order of the subject');
    await redis.set(`${p}:order:9002`, 'order of the neighbour');

    const connector = new RedisConnector(fx.catalog.sinks.redis!);
    const event = userErased(subject, [{ table: 'public.orders', key: [{ column: 'id', value: '9001' }], operation: 'DELETE' }]);
    const [results] = await connector.apply([event]);
    expect(results).toEqual([
      { target: `key ${p}:user:{subject}`, affected: 1, residual: 0 },
      { target: `key ${p}:session:{subject}:*`, affected: 700, residual: 0 },
      { target: `hash ${p}:emails field {subject}`, affected: 1, residual: 0 },
      { target: `set ${p}:online member {subject}`, affected: 1, residual: 0 },
      { target: `set ${p}:ranking member u{key.id}`, affected: 1, residual: 0 },
      { target: `related public.orders key ${p}:order:{row.id}`, affected: 1, residual: 0 },
    ]);
    // Idempotent: the same event again finds nothing to do.
    const [again] = await connector.apply([event]);
    expect(again!.every((r) => r.affected === 0 && r.residual === 0)).toBe(true);

    expect(await redis.exists(`${p}:user:42`, `${p}:session:42:0`, `${p}:session:42:699`, `${p}:order:9002`)).toBe(4);
    expect(await redis.hget(`${p}:emails`, '42')).toBe('42@seeded.example');
    expect(await redis.sismember(`${p}:online`, '42')).toBe(1);
    expect(await redis.zscore(`${p}:ranking`, 'u42')).toBe('1');
    await connector.close();
    const leftovers = await redis.keys(`${p}:*`);
    if (leftovers.length > 0) await redis.unlink(...leftovers);
  });

  it('refuses a pattern for a value holding its delimiter, and a related row without its key, leaving every neighbour', async () => {
    const p = uniqueName('r');
    await using fx = await sinkFixture(`  redis:
    url: ${endpoints().redisUrl}
    user:
      keys: ["${p}:session:{subject}:*", "${p}:user:{subject}"]
      related: { public.orders: ["${p}:order:{row.id}"] }
    account:
      keys: ["${p}:acct:{key.tenant}:{key.AccountId}"]
`);
    const redis = new Redis(endpoints().redisUrl);
    await using _ = { [Symbol.asyncDispose]: async () => void redis.disconnect() };
    // Subject 4's session keys include one that subject "4:x"'s pattern would match.
    await redis.set(`${p}:session:4:x:1`, 'of subject 4');
    await redis.set(`${p}:session:4:x`, 'of subject 4');
    await redis.set(`${p}:user:4:x`, 'profile of 4:x');
    await redis.set(`${p}:order:77`, 'an order');
    const connector = new RedisConnector(fx.catalog.sinks.redis!);
    await using _c = { [Symbol.asyncDispose]: () => connector.close() };

    const [clash] = await connector.apply([userErased('4:x')]);
    expect(clash![0]).toMatchObject({ target: `key ${p}:session:{subject}:*`, affected: 0, failed: expect.stringMatching(/holds ':', the delimiter beside it/) });
    // The exact key of the same subject is still erased.
    expect(clash![1]).toEqual({ target: `key ${p}:user:{subject}`, affected: 1, residual: 0 });
    expect(await redis.exists(`${p}:session:4:x:1`, `${p}:session:4:x`)).toBe(2);

    // A related row listed without its key (its table has no primary key): failed, not "nothing to do".
    const [keyless] = await connector.apply([userErased('5', [{ table: 'public.orders', key: [], operation: 'DELETE' }])]);
    expect(keyless!.find((r) => r.target.startsWith('related'))).toMatchObject({ affected: 0, failed: expect.stringMatching(/a related row carries no id/) });
    expect(await redis.exists(`${p}:order:77`)).toBe(1);

    // An exact key with two placeholders: tenant "a:b" + account "c" would name tenant "a"'s account "b:c".
    await redis.set(`${p}:acct:a:b:c`, 'account b:c of tenant a');
    const [ambiguous] = await connector.apply([accountErased('a:b', 'c')]);
    expect(ambiguous![0]).toMatchObject({ affected: 0, failed: expect.stringMatching(/a value of \{key\.tenant\} holds ':', which separates it from another placeholder/) });
    expect(await redis.exists(`${p}:acct:a:b:c`)).toBe(1);
    const leftovers = await redis.keys(`${p}:*`);
    if (leftovers.length > 0) await redis.unlink(...leftovers);
  });

  it('runs as a consumer group: acks per target, poison to the DLQ with a failed ack, later events still applied', async () => {
    const p = uniqueName('r');
    await using fx = await sinkFixture(`  redis:
    url: ${endpoints().redisUrl}
    user:
      keys: ["${p}:user:{subject}"]
`);
    const redis = new Redis(endpoints().redisUrl);
    await using _ = { [Symbol.asyncDispose]: async () => void redis.disconnect() };
    await redis.mset(`${p}:user:1`, 'a', `${p}:user:2`, 'b', `${p}:user:3`, 'c');
    const acks = await fx.acks();
    const first = userErased('1');
    await fx.publish([first]);
    await fx.publishRaw('user:poison', Buffer.from('not avro at all'));
    const third = userErased('2');
    await fx.publish([third]);
    fx.startRunner(new RedisConnector(fx.catalog.sinks.redis!));

    await waitFor(() => acks.values.length >= 3, { timeoutMs: 30_000, what: 'three acks' });
    const byEvent = new Map(acks.values.map((a) => [a.eventId, a]));
    expect(byEvent.get(first.eventId)).toMatchObject({ sink: 'redis', outcome: 'APPLIED', affected: 1, residual: 0, attempt: 1, target: `key ${p}:user:{subject}` });
    expect(byEvent.get(third.eventId)).toMatchObject({ outcome: 'APPLIED' });
    const failed = acks.values.find((a) => a.eventId.startsWith('undecodable:'));
    expect(failed).toMatchObject({ outcome: 'FAILED', subjectType: 'user', subjectId: 'poison' });
    expect(await redis.exists(`${p}:user:1`, `${p}:user:2`)).toBe(0);
    expect(await redis.exists(`${p}:user:3`)).toBe(1);

    const dead = await waitFor(async () => {
      const d = await fx.deadLetters();
      return d.length > 0 ? d : undefined;
    });
    expect(dead).toHaveLength(1);
    expect(dead[0]!.value?.toString()).toBe('not avro at all');
    expect(dead[0]!.headers?.['lethe-dlq-reason']?.toString()).toMatch(/undecodable/);
    await redis.unlink(`${p}:user:3`);
  });

  it("shares one keyspace pass among a batch's patterns and erases exactly what Redis matches, byte for byte", async () => {
    const p = uniqueName('r');
    await using fx = await sinkFixture(`  redis:
    url: ${endpoints().redisUrl}
    user:
      keys: ["${p}:s:{subject}:*"]
`);
    const redis = new Redis(endpoints().redisUrl);
    await using _ = { [Symbol.asyncDispose]: async () => void redis.disconnect() };
    // Ids with glob characters, a backslash, multi-byte characters (two emoji share their first
    // UTF-16 unit and first three UTF-8 bytes), and neighbours one character away.
    const erased = ['1', 'a?b', 'x\\y', 'é', '😀', '4*2'];
    const neighbours = ['10', '2', 'aXb', 'x\\\\y', 'e', '😁', '4x2', '42'];
    const keyOf = (id: string, n: number) => Buffer.from(`${p}:s:${id}:${n}`, 'utf8');
    const all = [...erased, ...neighbours].flatMap((id) => [0, 1, 2].map((n) => keyOf(id, n)));
    // A key that is not valid UTF-8 under an erased subject's pattern.
    const binary = Buffer.concat([Buffer.from(`${p}:s:1:`, 'utf8'), Buffer.from([0xff, 0xfe])]);
    for (const key of [...all, binary]) await redis.set(key, 'v');

    // Redis itself is the oracle: the client-side matching agrees with SCAN MATCH on every pattern.
    const serverMatch = async (pattern: string) => {
      const out = new Set<string>();
      let cursor = '0';
      do {
        const [next, keys] = (await redis.callBuffer('scan', cursor, 'MATCH', pattern, 'COUNT', 1000)) as [Buffer, Buffer[]];
        for (const k of keys) out.add(k.toString('latin1'));
        cursor = next.toString();
      } while (cursor !== '0');
      return [...out].sort();
    };
    const everyKey = await serverMatch(`${escapeGlob(p)}:*`);
    for (const pattern of [...erased, ...neighbours].map((id) => `${escapeGlob(p)}:s:${escapeGlob(id)}:*`).concat([`${escapeGlob(p)}:s:?:1`, `${escapeGlob(p)}:s:*\\*:?`, `${escapeGlob(p)}:s:??:*`])) {
      const regex = globToRegExp(pattern)!;
      expect(everyKey.filter((k) => regex.test(k)).sort(), pattern).toEqual(await serverMatch(pattern));
    }
    expect(globToRegExp(`${p}:[ab]*`)).toBeUndefined();

    const expected = new Map<string, number>();
    for (const id of erased) expected.set(id, (await serverMatch(`${escapeGlob(p)}:s:${escapeGlob(id)}:*`)).length);
    expect(expected.get('1')).toBe(4); // its three keys and the binary one

    const connector = new RedisConnector(fx.catalog.sinks.redis!);
    const results = await connector.apply(erased.map((id) => userErased(id)));
    expect(results.map(([r]) => [r!.affected, r!.residual])).toEqual(erased.map((id) => [expected.get(id), 0]));
    expect(await redis.exists(binary)).toBe(0);
    for (const id of erased) expect(await serverMatch(`${escapeGlob(p)}:s:${escapeGlob(id)}:*`), id).toEqual([]);
    for (const id of neighbours) for (const n of [0, 1, 2]) expect(await redis.exists(keyOf(id, n)), `${id}:${n}`).toBe(1);
    expect(asBytes('é')).toHaveLength(2);
    await connector.close();
    const leftovers = await redis.keys(`${escapeGlob(p)}:*`);
    if (leftovers.length > 0) await redis.unlink(...leftovers);
  });

  it('applies at once share their SCAN passes and each still erases and verifies exactly its own keys', async () => {
    const p = uniqueName('r');
    await using fx = await sinkFixture(`  redis:
    url: ${endpoints().redisUrl}
    user:
      keys: ["${p}:session:{subject}:*"]
`);
    const redis = new Redis(endpoints().redisUrl);
    await using _ = { [Symbol.asyncDispose]: async () => void redis.disconnect() };
    const ids = Array.from({ length: 12 }, (_, i) => String(100 + i));
    const pipeline = redis.pipeline();
    for (const id of [...ids, '999']) for (let i = 0; i < 50; i++) pipeline.set(`${p}:session:${id}:${i}`, 's');
    await pipeline.exec();
    const connector = new RedisConnector(fx.catalog.sinks.redis!);
    try {
      // Six applies of two subjects each at once, as a sink's partitions run: their batches'
      // passes share a MATCH (the template's prefix), so most of them join another's.
      const chunks = Array.from({ length: 6 }, (_, i) => ids.slice(2 * i, 2 * i + 2));
      const results = await Promise.all(chunks.map((chunk) => connector.apply(chunk.map((id) => userErased(id)))));
      expect(results.flat(2)).toEqual(ids.map(() => ({ target: `key ${p}:session:{subject}:*`, affected: 50, residual: 0 })));
      // The same subjects again, at once: nothing to do, and verified so.
      const again = await Promise.all(chunks.map((chunk) => connector.apply(chunk.map((id) => userErased(id)))));
      expect(again.flat(2).every((r) => r.affected === 0 && r.residual === 0)).toBe(true);
      expect((await redis.keys(`${p}:session:*`)).sort()).toEqual(Array.from({ length: 50 }, (_, i) => `${p}:session:999:${i}`).sort());
    } finally {
      await connector.close();
      const leftovers = await redis.keys(`${p}:*`);
      if (leftovers.length > 0) await redis.unlink(...leftovers);
    }
  });
});
