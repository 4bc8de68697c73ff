import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded } from 'kafkajs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { closedPort } from '../support/closed-port.js';
import { failureLine } from '../../src/cli/command-failure.js';
import { main } from '../../src/cli/main.js';
import { ENDPOINT_VARIABLES } from '../../src/stack/endpoints.js';

/** A catalog file in a temp directory whose source and tracker database is ${DATABASE_URL}. */
async function catalogFile(): Promise<AsyncDisposable & { path: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'lethe-cli-'));
  const path = join(dir, 'lethe.config.yaml');
  await writeFile(
    path,
    `source: { url: "\${DATABASE_URL}", publication: lethe, slot: lethe }
kafka: { brokers: "127.0.0.1:9", schemaRegistry: "http://127.0.0.1:9", topics: { erasures: e, acks: a, status: s } }
subjects:
  customer: { table: public.customers, key: id, erasedWhen: [delete] }
manual:
  - { name: support-inbox, owner: support@corp.example, action: redact tickets }
`,
  );
  return { path, [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) };
}

function captureOutput() {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    out.push(String(chunk));
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    err.push(String(chunk));
    return true;
  });
  return { out: () => out.join(''), err: () => err.join('') };
}

describe('lethe CLI', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
    process.exitCode = undefined;
  });

  it('prints help and succeeds with no arguments', async () => {
    const io = captureOutput();
    expect(await main(['node', 'lethe'])).toBe(0);
    expect(io.out()).toMatch(/Usage: lethe/);
    expect(io.out()).toMatch(/ping/);
  });

  it('fails on an unknown command', async () => {
    const io = captureOutput();
    expect(await main(['node', 'lethe', 'no-such-command'])).not.toBe(0);
    expect(io.err()).toMatch(/unknown command|too many arguments/);
  });

  it('ping names the endpoint variables that are missing', async () => {
    for (const name of ENDPOINT_VARIABLES) vi.stubEnv(name, '');
    const io = captureOutput();
    expect(await main(['node', 'lethe', 'ping'])).toBe(1);
    expect(io.err()).toContain('DATABASE_URL');
    expect(io.err()).toContain('make up');
  });

  it('status refuses a --limit that is not a positive integer, naming the option', async () => {
    for (const limit of ['abc', '0', '-3', '2.5']) {
      const io = captureOutput();
      expect(await main(['node', 'lethe', 'status', '--limit', limit])).not.toBe(0);
      expect(io.err()).toContain(`option '--limit <n>' argument '${limit}' is invalid`);
      expect(io.err()).toMatch(/positive integer/);
      vi.restoreAllMocks();
    }
  });

  it('status refuses an unknown --status, naming the option and the statuses allowed', async () => {
    const io = captureOutput();
    expect(await main(['node', 'lethe', 'status', '--status', 'complete,finished'])).not.toBe(0);
    expect(io.err()).toContain("option '--status <states>' argument 'complete,finished' is invalid");
    expect(io.err()).toContain("'finished' is not a status; allowed: pending, partial, complete, failed, deferred, overdue");
  });

  it('an unreachable database is one line naming it, without a stack trace', async () => {
    await using catalog = await catalogFile();
    const port = await closedPort();
    vi.stubEnv('DATABASE_URL', `postgres://lethe:secret-password@127.0.0.1:${port}/lethe`);
    vi.stubEnv('LETHE_DEBUG', '');
    for (const args of [['status'], ['report', 'customer:42'], ['confirm', 'customer:42', 'support-inbox', '--by', 'ops']]) {
      const io = captureOutput();
      expect(await main(['node', 'lethe', '-c', catalog.path, ...args])).toBe(1);
      expect(io.err()).toBe(`lethe: SERVICE_UNAVAILABLE: postgres: cannot connect to tracker.database: connect ECONNREFUSED 127.0.0.1:${port}\n`);
      vi.restoreAllMocks();
    }
    // A confirmation is checked before the database is asked: a system the catalog does not
    // declare, an over-long --note, a --by on two lines.
    for (const [args, message] of [
      [['billing'], 'lethe: NOT_A_MANUAL_SYSTEM: system: billing is not a manual system of the catalog (manual: support-inbox)'],
      [['support-inbox', '--note', 'x'.repeat(2001)], 'lethe: USAGE: --note: at most 2000 characters'],
      [['support-inbox', '--by', 'ops\nand the CEO'], 'lethe: USAGE: --by: one line of text, without control characters'],
    ] as const) {
      const io = captureOutput();
      expect(await main(['node', 'lethe', '-c', catalog.path, 'confirm', 'customer:42', ...args, ...((args as readonly string[]).includes('--by') ? [] : ['--by', 'ops'])])).toBe(1);
      expect(io.err()).toBe(`${message}\n`);
      vi.restoreAllMocks();
    }
    // LETHE_DEBUG keeps the stack, for a developer.
    vi.stubEnv('LETHE_DEBUG', '1');
    const io = captureOutput();
    expect(await main(['node', 'lethe', '-c', catalog.path, 'status'])).toBe(1);
    expect(io.err()).toMatch(/^lethe: SERVICE_UNAVAILABLE: .*\n[\s\S]*\n\s+at /);
    expect(io.err()).not.toContain('secret-password');
  });

  it('run waits while the tracker database is unreachable (an outage is a wait), and SIGTERM stops it cleanly', async () => {
    await using catalog = await catalogFile();
    const port = await closedPort();
    vi.stubEnv('DATABASE_URL', `postgres://lethe@127.0.0.1:${port}/lethe`);
    vi.stubEnv('LETHE_LOG_LEVEL', 'silent');
    const io = captureOutput();
    let exit: number | undefined;
    const running = main(['node', 'lethe', '-c', catalog.path, 'run', '--only', 'tracker']).then((code) => (exit = code));
    // Before the fix this failed within milliseconds (SERVICE_FAILED … ECONNREFUSED) and exited.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(exit).toBeUndefined();
    process.emit('SIGTERM');
    await running;
    expect(exit).toBe(0);
    expect(io.err()).toBe('');
  });

  it('an error no command translated is named by its command, and by Kafka with the reason kafkajs wrapped', () => {
    const refused = new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9', { broker: '127.0.0.1:9' } as never);
    const gaveUp = new KafkaJSNumberOfRetriesExceeded(refused, { retryCount: 5, retryTime: 6400 } as never);
    expect(failureLine(gaveUp, 'replay')).toBe('lethe: replay: kafka: Connection error: connect ECONNREFUSED 127.0.0.1:9');
    expect(failureLine(new Error('socket hang up\n  at somewhere'), 'events')).toBe('lethe: events: socket hang up at somewhere');
  });
});
