import { describe, expect, it } from 'vitest';
import { SharedScans } from '../../connectors/shared-scans.js';

/** A scan whose passes end when the test says: each pass's MATCH, start order, and its resolver. */
function controlledScan() {
  const passes: Array<{ match: string; end: (keys: string[]) => void; fail: (e: Error) => void }> = [];
  const scan = (match: string | Buffer) =>
    new Promise<string[]>((resolve, reject) => passes.push({ match: match.toString(), end: resolve, fail: reject }));
  return { passes, scans: new SharedScans(scan) };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('shared SCAN passes', () => {
  it('a request during a pass waits for the next one, which every request made meanwhile shares', async () => {
    const { passes, scans } = controlledScan();
    const first = scans.run('a:*');
    const second = scans.run('a:*');
    const third = scans.run('a:*');
    await tick();
    // Only the first pass has started: the others were asked for while it ran.
    expect(passes.map((p) => p.match)).toEqual(['a:*']);
    passes[0]!.end(['a:1']);
    expect(await first).toEqual(['a:1']);
    await tick();
    // One more pass for the two requests made during the first.
    expect(passes).toHaveLength(2);
    passes[1]!.end(['a:2']);
    expect(await second).toEqual(['a:2']);
    expect(await third).toEqual(['a:2']);
    await tick();
    expect(passes).toHaveLength(2);
  });

  it('requests after a pass ended start a new one at once; other MATCHes never wait', async () => {
    const { passes, scans } = controlledScan();
    const a = scans.run('a:*');
    const b = scans.run('b:*');
    await tick();
    expect(passes.map((p) => p.match)).toEqual(['a:*', 'b:*']);
    passes[0]!.end([]);
    passes[1]!.end(['b:1']);
    await Promise.all([a, b]);
    const again = scans.run('a:*');
    await tick();
    expect(passes).toHaveLength(3);
    passes[2]!.end(['a:9']);
    expect(await again).toEqual(['a:9']);
  });

  it('a failed pass fails the requests that shared it; the next pass still runs', async () => {
    const { passes, scans } = controlledScan();
    const first = scans.run('a:*');
    const second = scans.run('a:*');
    const third = scans.run('a:*');
    await tick();
    passes[0]!.fail(new Error('connection lost'));
    await expect(first).rejects.toThrow('connection lost');
    await tick();
    passes[1]!.fail(new Error('still down'));
    await expect(second).rejects.toThrow('still down');
    await expect(third).rejects.toThrow('still down');
    const later = scans.run('a:*');
    await tick();
    passes[2]!.end(['a:1']);
    expect(await later).toEqual(['a:1']);
  });
});
