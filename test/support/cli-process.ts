import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'bin/lethe.js');

/** A `lethe` process of the built CLI, its output kept, disposed with SIGKILL (a crash leaves nothing to wait for). */
export interface CliProcess extends AsyncDisposable {
  child: ChildProcess;
  /** stdout and stderr as they came. */
  output: string[];
  /** Resolves once the process has exited (at once if it has). */
  exited(): Promise<void>;
  /** The last `chars` of the output, for a failure message. */
  tail(chars?: number): string;
}

/**
 * Runs `lethe -c <yaml as a file> <args>` as its own process, so a test can SIGKILL it like a
 * crash or SIGTERM it like a supervisor. Needs the CLI built (`npm run build`; make test does).
 */
export function startCli(yaml: string, args: string[], env: Record<string, string> = {}): CliProcess {
  if (!existsSync(join(ROOT, 'dist/src/cli/main.js'))) {
    throw new Error('the CLI is not built: run `npm run build` (make test does)');
  }
  const dir = mkdtempSync(join(tmpdir(), 'lethe-cli-'));
  const config = join(dir, 'lethe.config.yaml');
  writeFileSync(config, yaml);
  const child = spawn(process.execPath, [CLI, '-c', config, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const output: string[] = [];
  child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
  const exited = () =>
    child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => child.once('exit', () => r()));
  return {
    child,
    output,
    exited,
    tail: (chars = 1500) => output.join('').slice(-chars),
    async [Symbol.asyncDispose]() {
      child.kill('SIGKILL');
      await exited();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
