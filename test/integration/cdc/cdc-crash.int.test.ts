import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseLsn } from '../../../src/cdc/lsn.js';
import { cdcFixture } from '../../support/cdc-fixture.js';
import { startCli } from '../../support/cli-process.js';
import { waitFor } from '../../support/wait-for.js';

describe('CDC reader crash', () => {
  it('loses nothing when killed (SIGKILL) after producing and before acknowledging the slot', async () => {
    // The first reader may wait ten minutes before confirming anything: the crash is certain to
    // fall between Kafka's acknowledgement and the slot's.
    await using fx = await cdcFixture({ ackIntervalMs: 600_000 });
    const subjects = [randomUUID(), randomUUID(), randomUUID()];
    for (const s of subjects) await fx.db.client.query(`INSERT INTO ${fx.users} ("UserId", email) VALUES ($1, 'k@seeded.example')`, [s]);
    const slotBefore = parseLsn(await fx.confirmedFlushLsn());
    const events = await fx.collect();

    await using first = startCli(fx.yaml, ['run', '--only', 'cdc']);
    await fx.db.client.query(`DELETE FROM ${fx.users} WHERE "UserId" = $1`, [subjects[0]]);
    await waitFor(
      () => {
        if (first.child.exitCode !== null) throw new Error(`the reader exited with ${first.child.exitCode}: ${first.tail()}`);
        return events.values.some((v) => v.subjectId === subjects[0]);
      },
      { timeoutMs: 30_000, what: 'the first reader to publish' },
    );
    const produced = events.values.find((v) => v.subjectId === subjects[0])!;
    // Produced to Kafka, not yet acknowledged to the slot.
    expect(parseLsn(await fx.confirmedFlushLsn())).toBeLessThan(parseLsn(produced.commitLsn));
    expect(parseLsn(await fx.confirmedFlushLsn())).toBe(slotBefore);

    first.child.kill('SIGKILL');
    await first.exited();
    // Erasures committed while no reader runs wait in the slot.
    await fx.db.client.query(`DELETE FROM ${fx.users} WHERE "UserId" = $1`, [subjects[1]]);

    await using second = startCli(fx.yaml.replace(/ackIntervalMs: \d+/, 'ackIntervalMs: 0'), ['run', '--only', 'cdc']);
    await fx.db.client.query(`DELETE FROM ${fx.users} WHERE "UserId" = $1`, [subjects[2]]);
    await fx.slotCaughtUp();
    await waitFor(() => subjects.every((s) => events.values.some((v) => v.subjectId === s)), {
      timeoutMs: 30_000,
      what: 'every erasure after the restart',
    });

    // None missing; the first perhaps twice, with the same event id both times.
    const forFirst = events.values.filter((v) => v.subjectId === subjects[0]);
    expect(forFirst.length).toBeGreaterThanOrEqual(1);
    expect(new Set(forFirst.map((v) => v.eventId))).toEqual(new Set([produced.eventId]));
    expect(new Set(events.values.map((v) => v.subjectId))).toEqual(new Set(subjects));

    // A clean stop (SIGTERM) ends the process and leaves the slot confirmed past everything.
    second.child.kill('SIGTERM');
    await second.exited();
    expect(second.child.exitCode).toBe(0);
  });
});
