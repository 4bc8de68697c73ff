import { readFileSync, statSync } from 'node:fs';
import { LetheError } from '../errors.js';

/**
 * The time the request lifecycle runs on. Every deadline, grace period, verification expiry and
 * reminder is compared with `now()` of one injected clock, never with the database's or the
 * process's own time directly, so tests move time forward instead of sleeping.
 */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock tests set by hand. */
export class ManualClock implements Clock {
  constructor(private at: number) {}
  now(): number {
    return this.at;
  }
  set(at: number): void {
    this.at = at;
  }
  advance(ms: number): void {
    this.at += ms;
  }
}

/** The variable naming a file whose content shifts Lethe's clock (a test hook; logged when set). */
export const CLOCK_FILE_ENV = 'LETHE_CLOCK_FILE';

/**
 * The system clock shifted by the milliseconds written in a file (`1209600000`, or `+14d`), read
 * again whenever the file changes, so a test moves a running `lethe run` through a grace period
 * by writing the file. A missing file is no shift; a file that is not an offset is an error.
 */
export class FileOffsetClock implements Clock {
  private mtimeMs = -1;
  private offsetMs = 0;

  constructor(readonly path: string) {}

  now(): number {
    let mtime: number;
    try {
      mtime = statSync(this.path).mtimeMs;
    } catch {
      this.mtimeMs = -1;
      this.offsetMs = 0;
      return Date.now();
    }
    if (mtime !== this.mtimeMs) {
      this.offsetMs = parseOffset(readFileSync(this.path, 'utf8'), this.path);
      this.mtimeMs = mtime;
    }
    return Date.now() + this.offsetMs;
  }

  offset(): number {
    this.now();
    return this.offsetMs;
  }
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `123`, `+14d`, `-2h`, `90s`: an offset in milliseconds. */
export function parseOffset(text: string, where: string): number {
  const match = /^\s*([+-]?)(\d+)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!match) throw new LetheError('BAD_CLOCK', `${where}: not a clock offset (milliseconds, or a number with ms, s, m, h or d, e.g. +14d)`);
  const value = Number(match[2]) * UNIT_MS[match[3] ?? 'ms']!;
  return match[1] === '-' ? -value : value;
}

/** The clock of this process: shifted by LETHE_CLOCK_FILE when set, the system's otherwise. */
export function clockFromEnv(env: Record<string, string | undefined> = process.env): Clock {
  const file = env[CLOCK_FILE_ENV];
  return file ? new FileOffsetClock(file) : systemClock;
}
