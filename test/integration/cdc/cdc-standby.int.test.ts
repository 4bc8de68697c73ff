import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { findSlot } from '../../../src/cdc/source-database.js';
import { cdcFixture } from '../../support/cdc-fixture.js';
import { startCli } from '../../support/cli-process.js';
import { waitFor } from '../../support/wait-for.js';

describe('CDC reader standby', () => {
  it('a second reader on the slot stands by, holding nothing, and takes over within seconds of a SIGKILL', async () => {
    await using fx = await cdcFixture();
    const subjects = Array.from({ length: 9 }, () => randomUUID());
    for (const s of subjects) await fx.db.client.query(`INSERT INTO ${fx.users} ("UserId", email) VALUES ($1, 'k@seeded.example')`, [s]);
    const erase = (ids: string[]) => fx.db.client.query(`DELETE FROM ${fx.users} WHERE "UserId" = ANY($1::uuid[])`, [ids]);
    const events = await fx.collect();
    const published = (ids: string[]) => ids.every((s) => events.values.some((v) => v.subjectId === s));

    await using active = startCli(fx.yaml, ['run', '--only', 'cdc']);
    await erase(subjects.slice(0, 1));
    await waitFor(
      () => {
        if (active.child.exitCode !== null) throw new Error(`the active reader exited with ${active.child.exitCode}: ${active.tail()}`);
        return published(subjects.slice(0, 1));
      },
      { timeoutMs: 30_000, what: 'the active reader to publish' },
    );
    const activePid = (await findSlot(fx.db.client, fx.slotName))?.activePid;
    expect(activePid).toBeTypeOf('number');

    const { reader: standby } = fx.startReader();
    await waitFor(() => standby.snapshot().standby, { timeoutMs: 20_000, what: 'the second reader to stand by' });
    // While it stands by, the active reader goes on alone: the slot stays with its walsender.
    await erase(subjects.slice(1, 3));
    await waitFor(() => published(subjects.slice(1, 3)), { timeoutMs: 20_000, what: 'the active reader to publish while the other stands by' });
    const slot = await findSlot(fx.db.client, fx.slotName);
    expect(slot?.activePid).toBe(activePid);
    expect(standby.snapshot()).toMatchObject({ standby: true, events: 0, transactions: 0, restarts: 0 });

    // Erasures committed just before the kill may be published by either reader (or both).
    await erase(subjects.slice(3, 5));
    active.child.kill('SIGKILL');
    const killedAt = Date.now();
    await active.exited();
    await erase(subjects.slice(5));

    await waitFor(() => !standby.snapshot().standby, { timeoutMs: 20_000, what: 'the standby to take over the slot' });
    const tookOverMs = Date.now() - killedAt;
    await waitFor(() => published(subjects), { timeoutMs: 30_000, what: 'every erasure after the takeover' });
    const allPublishedMs = Date.now() - killedAt;
    console.info(`standby reader took over ${tookOverMs} ms after SIGKILL; every erasure published ${allPublishedMs} ms after it`);
    expect(tookOverMs).toBeLessThan(10_000);
    await fx.slotCaughtUp();

    // None lost; a subject published twice (by both readers) carries the same event id both times.
    for (const s of subjects) {
      const ids = new Set(events.values.filter((v) => v.subjectId === s).map((v) => v.eventId));
      expect(ids.size, `event ids of subject ${s}`).toBe(1);
    }
    expect(new Set(events.values.map((v) => v.subjectId))).toEqual(new Set(subjects));
    const after = standby.snapshot();
    expect(after.events).toBeGreaterThanOrEqual(subjects.length - 5);
    expect(after.restarts).toBe(0);

    // One info line for the whole stand-by, one for the takeover; no warning storm while it waited.
    const cdcLines = fx.logLines.filter((l) => l.includes('"service":"cdc"'));
    expect(cdcLines.filter((l) => l.includes('standing by'))).toHaveLength(1);
    expect(cdcLines.filter((l) => l.includes('took over the replication slot'))).toHaveLength(1);
    expect(cdcLines.filter((l) => l.includes('cdc session failed'))).toEqual([]);

    // A standby that is stopped ends at once, without ever having streamed.
    const late = fx.startReader();
    await waitFor(() => late.reader.snapshot().standby, { timeoutMs: 20_000, what: 'a third reader to stand by' });
    const stopping = Date.now();
    await late.stop();
    expect(Date.now() - stopping).toBeLessThan(2000);
    expect(late.reader.snapshot()).toMatchObject({ events: 0, transactions: 0, restarts: 0 });
  });
});
