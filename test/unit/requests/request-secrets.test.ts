import { describe, expect, it } from 'vitest';
import { newRequestId, readRequestSecret, RequestSecrets } from '../../../src/requests/request-secrets.js';

const secrets = new RequestSecrets(Buffer.alloc(32, 7));
const now = Date.parse('2026-12-01T00:00:00Z');

describe('request secrets', () => {
  it('a link is valid for its request and purpose until it expires, and for nothing else', async () => {
    const token = await secrets.linkToken('req_a', 'cancel', now + 60_000);
    expect(await secrets.checkLink(token, 'req_a', 'cancel', now)).toBe(true);
    expect(await secrets.checkLink(token, 'req_b', 'cancel', now)).toBe(false);
    expect(await secrets.checkLink(token, 'req_a', 'verify', now)).toBe(false);
    expect(await secrets.checkLink(token, 'req_a', 'cancel', now + 120_000)).toBe(false);
    expect(await new RequestSecrets(Buffer.alloc(32, 8)).checkLink(token, 'req_a', 'cancel', now)).toBe(false);
    expect(await secrets.checkLink(`${token.slice(0, -2)}xx`, 'req_a', 'cancel', now)).toBe(false);
  });

  it('a code is six digits, stored only as a hash bound to its request', () => {
    const { code, hash } = secrets.newCode('req_a');
    expect(code).toMatch(/^\d{6}$/);
    expect(hash).not.toContain(code);
    expect(secrets.codeMatches('req_a', code, hash)).toBe(true);
    expect(secrets.codeMatches('req_a', ` ${code} `, hash)).toBe(true);
    expect(secrets.codeMatches('req_b', code, hash)).toBe(false);
    expect(secrets.codeMatches('req_a', String((Number(code) + 1) % 1_000_000).padStart(6, '0'), hash)).toBe(false);
  });

  it('the secret comes from the environment or a file, and must be long enough', () => {
    expect(() => readRequestSecret({})).toThrow(/LETHE_REQUEST_SECRET/);
    expect(() => readRequestSecret({ LETHE_REQUEST_SECRET: 'short' })).toThrow(/at least 32 bytes/);
    expect(readRequestSecret({ LETHE_REQUEST_SECRET: 'x'.repeat(40) }).length).toBe(40);
    expect(() => readRequestSecret({ LETHE_REQUEST_SECRET_FILE: '/nonexistent/secret' })).toThrow(/cannot read \/nonexistent\/secret: ENOENT/);
  });

  it('request ids are distinct and carry 130 random bits', () => {
    const ids = new Set(Array.from({ length: 1000 }, newRequestId));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^req_[a-z2-7]{26}$/);
  });
});
