import { Redis } from 'ioredis';
import { AssignerProtocol, type Admin } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { startCli, type CliProcess } from '../../support/cli-process.js';
import { endpoints } from '../../support/endpoints.js';
import { uniqueName } from '../../support/names.js';
import { sinkFixture, userErased } from '../../support/sink-fixture.js';
import { waitFor } from '../../support/wait-for.js';

const SUBJECTS = 300;

/** The consumer group a `lethe run --only sink:<name>` process reports in its "sink consuming" line. */
function groupOf(instance: CliProcess): string | undefined {
  for (const line of instance.output.join('').split('\n')) {
    if (!line.includes('"sink consuming"')) continue;
    return (JSON.parse(line) as { groupId?: string }).groupId;
  }
  return undefined;
}

/** Partitions of `topic` each member of the stable group holds, members without any left out; [] while it rebalances. */
async function partitionsHeld(admin: Admin, groupId: string, topic: string): Promise<number[]> {
  const { groups } = await admin.describeGroups([groupId]);
  const group = groups[0];
  if (group?.state !== 'Stable') return [];
  return group.members
    .map((m) => (AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topic] ?? []).length)
    .filter((n) => n > 0);
}

describe('sink scale-out', () => {
  it('two `lethe run --only sink:redis` split the partitions; a SIGKILL of one mid-burst loses no erasure', { timeout: 240_000 }, async () => {
    const p = uniqueName('r');
    await using fx = await sinkFixture(`  redis:
    url: ${endpoints().redisUrl}
    user:
      keys: ["${p}:user:{subject}"]
      hashFields: [{ key: "${p}:emails", field: "{subject}" }]
`);
    const redis = new Redis(endpoints().redisUrl);
    await using _redis = {
      [Symbol.asyncDispose]: async () => {
        const leftovers = await redis.keys(`${p}:*`);
        if (leftovers.length > 0) await redis.unlink(...leftovers);
        redis.disconnect();
      },
    };
    const ids = Array.from({ length: SUBJECTS }, (_, i) => `s${i}`);
    const neighbours = Array.from({ length: SUBJECTS }, (_, i) => `n${i}`);
    const seeding = redis.pipeline();
    for (const id of [...ids, ...neighbours]) {
      seeding.set(`${p}:user:${id}`, 'profile');
      seeding.hset(`${p}:emails`, id, 'someone@seeded.example');
    }
    await seeding.exec();
    const acks = await fx.acks();

    await using first = startCli(fx.yaml, ['run', '--only', 'sink:redis']);
    await using second = startCli(fx.yaml, ['run', '--only', 'sink:redis']);
    const instances = [first, second];
    const groupId = await waitFor(
      () => {
        for (const i of instances) if (i.child.exitCode !== null) throw new Error(`a sink exited with ${i.child.exitCode}: ${i.tail()}`);
        const groups = instances.map(groupOf);
        return groups.every((g) => g !== undefined) && groups[0] === groups[1] && groups[0];
      },
      { timeoutMs: 60_000, what: 'both sink processes to join one group' },
    );
    const split = async (members: number) => {
      const held = await partitionsHeld(fx.kafka.admin, groupId, fx.topics.erasures);
      if (held.length === members) return true;
      throw new Error(`members of ${groupId} holding partitions of ${fx.topics.erasures}: ${JSON.stringify(held)}`);
    };
    await waitFor(() => split(2), { timeoutMs: 60_000, what: `both members of ${groupId} to hold partitions of ${fx.topics.erasures}` });

    const events = ids.map((id) => userErased(id));
    const done = (eventId: string) =>
      new Set(acks.values.filter((a) => a.eventId === eventId && (a.outcome === 'APPLIED' || a.outcome === 'NOTHING_TO_DO')).map((a) => a.target)).size === 2;
    // The burst: the first half, then the kill once acks flow, then the rest while the dead
    // member still holds its partitions (until its session times out and the group rebalances).
    await fx.publish(events.slice(0, SUBJECTS / 2));
    await waitFor(() => acks.values.length > 0, { timeoutMs: 30_000, what: 'the first acks of the burst' });
    first.child.kill('SIGKILL');
    const killedAt = Date.now();
    await first.exited();
    for (let i = SUBJECTS / 2; i < SUBJECTS; i += 50) await fx.publish(events.slice(i, i + 50));

    await waitFor(
      () => {
        if (second.child.exitCode !== null) throw new Error(`the surviving sink exited with ${second.child.exitCode}: ${second.tail()}`);
        return events.every((e) => done(e.eventId));
      },
      { timeoutMs: 150_000, what: 'every erasure acknowledged by the surviving sink' },
    );
    console.info(`every erasure acknowledged ${Date.now() - killedAt} ms after one of two sink instances was SIGKILLed (group ${groupId})`);

    expect(acks.values.filter((a) => a.outcome === 'FAILED' || a.outcome === 'DEFERRED')).toEqual([]);
    const subjectsLeft = await redis.exists(...ids.map((id) => `${p}:user:${id}`));
    const fieldsLeft = await redis.hmget(`${p}:emails`, ...ids);
    expect(subjectsLeft).toBe(0);
    expect(fieldsLeft.filter((v) => v !== null)).toEqual([]);
    expect(await redis.exists(...neighbours.map((id) => `${p}:user:${id}`))).toBe(SUBJECTS);
    expect(await redis.hlen(`${p}:emails`)).toBe(SUBJECTS);

    // A third instance joins; stopped with SIGTERM, it leaves the group at once: its partitions
    // move without waiting for a session timeout.
    await using third = startCli(fx.yaml, ['run', '--only', 'sink:redis']);
    await waitFor(
      () => {
        if (third.child.exitCode !== null) throw new Error(`the third sink exited with ${third.child.exitCode}: ${third.tail()}`);
        return split(2);
      },
      { timeoutMs: 60_000, what: 'a third instance to take partitions' },
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; the third instance said: ${third.tail(3000)}`);
    });
    third.child.kill('SIGTERM');
    const stoppedAt = Date.now();
    await third.exited();
    expect(third.child.exitCode).toBe(0);
    await waitFor(async () => (await partitionsHeld(fx.kafka.admin, groupId, fx.topics.erasures)).join() === '3', {
      timeoutMs: 20_000,
      what: 'the survivor to hold every partition after the clean stop',
    });
    console.info(`partitions of a SIGTERMed instance moved to the survivor ${Date.now() - stoppedAt} ms after the signal`);

    // The survivor stops cleanly on SIGTERM too.
    second.child.kill('SIGTERM');
    await second.exited();
    expect(second.child.exitCode).toBe(0);
  });
});
