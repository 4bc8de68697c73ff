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

/** How many members of the group hold at least one partition of `topic`. */
async function membersHolding(admin: Admin, groupId: string, topic: string): Promise<number> {
  const { groups } = await admin.describeGroups([groupId]);
  const group = groups[0];
  if (group?.state !== 'Stable') return 0;
  return group.members.filter((m) => (AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topic] ?? []).length > 0).length;
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
    await waitFor(async () => (await membersHolding(fx.kafka.admin, groupId, fx.topics.erasures)) === 2, {
      timeoutMs: 60_000,
      what: `both members of ${groupId} to hold partitions of ${fx.topics.erasures}`,
    });

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

    // The survivor stops cleanly on SIGTERM.
    second.child.kill('SIGTERM');
    await second.exited();
    expect(second.child.exitCode).toBe(0);
  });
});
