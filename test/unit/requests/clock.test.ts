import { mkdtempSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileOffsetClock, parseOffset } from '../../../src/requests/clock.js';

describe('the injected clock', () => {
  it('parses offsets with units', () => {
    expect(parseOffset('+14d', 'f')).toBe(14 * 86_400_000);
    expect(parseOffset('-2h', 'f')).toBe(-7_200_000);
    expect(parseOffset('1500', 'f')).toBe(1500);
    expect(() => parseOffset('tomorrow', 'clock.txt')).toThrow(/clock.txt: not a clock offset/);
  });

  it('a file clock follows its file as it changes, and is the system clock without one', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'lethe-clock-')), 'offset');
    const clock = new FileOffsetClock(path);
    expect(Math.abs(clock.now() - Date.now())).toBeLessThan(1000);
    writeFileSync(path, '+14d');
    expect(clock.offset()).toBe(14 * 86_400_000);
    writeFileSync(path, '+15d');
    utimesSync(path, new Date(), new Date(Date.now() + 5000)); // a new mtime even within one tick
    expect(clock.offset()).toBe(15 * 86_400_000);
  });
});
