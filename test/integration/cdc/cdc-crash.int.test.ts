import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseLsn } from '../../../src/cdc/lsn.js';
import { cdcFixture } from '../../support/cdc-fixture.js';
import { waitFor } from '../../support/wait-for.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const CLI = join(ROOT, 'bin/lethe.js');

/** `lethe run --only cdc` as its own process, so the test can SIGKILL it like a crash. */
function startCli(yaml: string): ChildProcess & { output: string[] } {
  if (!existsSync(join(ROOT, 'dist/src/cli/main.js'))) {
    throw new Error('the CLI is not built: run `npm run build` (make test does)');
  }
  const dir = mkdtempSync(join(tmpdir(), 'lethe-crash-'));
  const config = join(dir, 'lethe.config.yaml');
  writeFileSync(config, yaml);
  const child = spawn(process.execPath, [CLI, '-c', config, 'run', '--only', 'cdc'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr.on('data', (d: Buffer) => output.push(d.toString()));
  return Object.assign(child, { output });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

describe('CDC reader crash', () => {
  it('loses nothing when killed (SIGKILL) after producing and before acknowledging the slot', async () => {
    // The first reader may wait ten minutes before confirming anything: the crash is certain to
    // fall between Kafka's acknowledgement and the slot's.
    await using fx = await cdcFixture({ ackIntervalMs: 600_000 });
    const subjects = [randomUUID(), randomUUID(), randomUUID()];
    for (const s of subjects) await fx.db.client.query(`INSERT INTO ${fx.users} ("UserId", email) VALUES ($1, 'k@seeded.example')`, [s]);
    const slotBefore = parseLsn(await fx.confirmedFlushLsn());
    const events = await fx.collect();

    const first = startCli(fx.yaml);
    await using _first = { [Symbol.asyncDispose]: async () => void (first.kill('SIGKILL'), await exited(first)) };
    await fx.db.client.query(`DELETE FROM ${fx.users} WHERE "UserId" = $1`, [subjects[0]]);
    await waitFor(
      () => {
        if (first.exitCode !== null) throw new Error(`the reader exited with ${first.exitCode}: ${first.output.join('').slice(-1500)}`);
        return events.values.some((v) => v.subjectId === subjects[0]);
      },
      { timeoutMs: 30_000, what: 'the first reader to publish' },
    );
    const produced = events.values.find((v) => v.subjectId === subjects[0])!;
    // Produced to Kafka, not yet acknowledged to the slot.
    expect(parseLsn(await fx.confirmedFlushLsn())).toBeLessThan(parseLsn(produced.commitLsn));
    expect(parseLsn(await fx.confirmedFlushLsn())).toBe(slotBefore);

    first.kill('SIGKILL');
    await exited(first);
    // Erasures committed while no reader runs wait in the slot.
    await fx.db.client.query(`DELETE FROM ${fx.users} WHERE "UserId" = $1`, [subjects[1]]);

    const second = startCli(fx.yaml.replace(/ackIntervalMs: \d+/, 'ackIntervalMs: 0'));
    await using _second = { [Symbol.asyncDispose]: async () => void (second.kill('SIGTERM'), await exited(second)) };
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
    second.kill('SIGTERM');
    await exited(second);
    expect(second.exitCode).toBe(0);
  });
});
