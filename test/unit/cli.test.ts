import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { ENDPOINT_VARIABLES } from '../../src/stack/endpoints.js';

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
});
