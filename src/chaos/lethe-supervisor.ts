import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';

/**
 * `lethe run` as a child process, supervised the way an operator's supervisor would: restarted
 * when it exits by itself, killed with SIGKILL (and started again) when the chaos plan says so.
 * Its output goes to a log file (pino JSON lines: keys, counts, ids, never row contents).
 */
export class LetheSupervisor {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  /** Children killed on purpose: their exit is not one for the supervisor to restart. */
  private readonly killed = new WeakSet<ChildProcess>();
  /** Exits nobody asked for, with their code or signal. */
  readonly unexpectedExits: string[] = [];
  starts = 0;

  constructor(
    private readonly args: { root: string; catalogPath: string; logPath: string; env: NodeJS.ProcessEnv },
    private readonly say: (line: string) => void,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    if (this.child || this.stopping) return;
    const log = openSync(this.args.logPath, 'a');
    const child = spawn(process.execPath, ['bin/lethe.js', '-c', this.args.catalogPath, 'run'], {
      cwd: this.args.root,
      env: this.args.env,
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    this.child = child;
    this.starts += 1;
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        this.child = undefined;
        if (!this.killed.has(child) && !this.stopping) {
          this.unexpectedExits.push(signal ?? `code ${code}`);
          this.say(`lethe run (pid ${child.pid}) exited by itself (${signal ?? `code ${code}`}); the supervisor restarts it in 1 s`);
          this.restartTimer = setTimeout(() => this.start(), 1000);
        }
        resolve();
      });
    });
  }

  /** SIGKILL, then wait for the exit; the caller starts it again. */
  async kill(): Promise<number | undefined> {
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child) return undefined;
    this.killed.add(child);
    child.kill('SIGKILL');
    await this.exited;
    return child.pid;
  }

  /** SIGTERM, and SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 20_000): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      this.say(`lethe run (pid ${child.pid}) did not stop within ${graceMs / 1000} s of SIGTERM: SIGKILL`);
      child.kill('SIGKILL');
    }, graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
