import { describe, expect, it } from 'vitest';
import { checkTrackerExposure } from '../../../src/setup/tracker-checks.js';
import { accessPolicy, decideAccess, exposureOf, type AccessRequest } from '../../../src/tracker/api-access.js';
import { createToken, type ApiToken } from '../../../src/tracker/api-tokens.js';
import { assertManualSystem, confirmationInput } from '../../../src/tracker/confirmation-input.js';

const alice = createToken('ops-alice', 'operator');
const grafana = createToken('grafana', 'reader');
const tokens = [alice.entry, grafana.entry];
const local: AccessRequest = { host: '127.0.0.1:8720', origin: undefined, authorization: undefined };
const bearer = (token: string): AccessRequest => ({ ...local, authorization: `Bearer ${token}` });

describe('API access', () => {
  it('with tokens: a reader reads, only an operator writes; a wrong or missing token is 401 with a challenge', () => {
    const policy = accessPolicy({ tokens, allowedHosts: [] }, '127.0.0.1');
    expect(decideAccess(policy, bearer(grafana.token), 'reader')).toEqual({ ok: true, token: grafana.entry });
    expect(decideAccess(policy, bearer(alice.token), 'reader')).toEqual({ ok: true, token: alice.entry });
    expect(decideAccess(policy, bearer(alice.token), 'operator')).toEqual({ ok: true, token: alice.entry });
    expect(decideAccess(policy, bearer(grafana.token), 'operator')).toMatchObject({ ok: false, status: 403, code: 'FORBIDDEN', message: 'token grafana is a reader; this needs an operator token' });
    expect(decideAccess(policy, local, 'reader')).toMatchObject({ ok: false, status: 401, code: 'UNAUTHENTICATED', challenge: 'Bearer realm="lethe"' });
    expect(decideAccess(policy, bearer('lethe_guess'), 'reader')).toMatchObject({ ok: false, status: 401, code: 'INVALID_TOKEN', challenge: 'Bearer realm="lethe", error="invalid_token"' });
    expect(decideAccess(policy, { ...local, authorization: 'Basic b3BzOm9wcw==' }, 'reader')).toMatchObject({ ok: false, status: 401 });
    expect(decideAccess(policy, local, 'open')).toEqual({ ok: true, token: undefined });
  });

  it('without tokens on loopback: reads are open, writes are refused whatever is sent', () => {
    const policy = accessPolicy({ tokens: [], allowedHosts: [] }, '127.0.0.1');
    expect(decideAccess(policy, local, 'reader')).toEqual({ ok: true, token: undefined });
    expect(decideAccess(policy, local, 'operator')).toMatchObject({ ok: false, status: 401, message: expect.stringMatching(/none is configured: `lethe token create/) });
    expect(decideAccess(policy, bearer(alice.token), 'operator')).toMatchObject({ ok: false, status: 401, code: 'INVALID_TOKEN' });
    expect(policy.metricsOpen).toBe(true);
  });

  it('refuses a Host the tracker is not named by (DNS rebinding), before anything else; the health check excepted', () => {
    const policy = accessPolicy({ tokens, allowedHosts: ['lethe.corp.example'] }, '0.0.0.0');
    expect(decideAccess(policy, { ...bearer(alice.token), host: 'rebind.evil.example:8720' }, 'operator')).toMatchObject({ ok: false, status: 421, code: 'HOST_NOT_ALLOWED' });
    expect(decideAccess(policy, { ...local, host: 'rebind.evil.example:8720' }, 'open')).toMatchObject({ ok: false, status: 421 });
    expect(decideAccess(policy, { ...local, host: undefined }, 'reader')).toMatchObject({ ok: false, status: 421 });
    expect(decideAccess(policy, { ...bearer(grafana.token), host: 'lethe.corp.example' }, 'reader')).toMatchObject({ ok: true });
    expect(decideAccess(policy, { ...local, host: 'rebind.evil.example' }, 'health')).toMatchObject({ ok: true });
    expect(policy.metricsOpen).toBe(false);
    expect(policy.readsOpen).toBe(false);
  });

  it("refuses a write whose Origin is another site's, even with an operator token", () => {
    const policy = accessPolicy({ tokens, allowedHosts: [] }, '127.0.0.1');
    expect(decideAccess(policy, { ...bearer(alice.token), origin: 'https://evil.example' }, 'operator')).toMatchObject({ ok: false, status: 403, code: 'ORIGIN_NOT_ALLOWED' });
    expect(decideAccess(policy, { ...bearer(alice.token), origin: 'null' }, 'operator')).toMatchObject({ ok: false, status: 403 });
    expect(decideAccess(policy, { ...bearer(alice.token), origin: 'http://127.0.0.1:8720' }, 'operator')).toMatchObject({ ok: true });
    expect(decideAccess(policy, { ...bearer(grafana.token), origin: 'https://evil.example' }, 'reader')).toMatchObject({ ok: true });
  });

  it('refuses a tracker beyond loopback without tokens, and says so of one without TLS (doctor too)', () => {
    expect(exposureOf({ tokens: [] }, '127.0.0.1')).toEqual({});
    expect(exposureOf({ tokens: [] }, '0.0.0.0').refused).toMatch(/^tracker.host 0.0.0.0 is reachable beyond this machine and tracker.tokens is empty/);
    expect(exposureOf({ tokens }, '10.0.0.5').clearText).toMatch(/without TLS: bearer tokens would cross the network in clear/);
    expect(exposureOf({ tokens, tls: { cert: 'c', key: 'k' } }, '10.0.0.5')).toEqual({});
    const tracker = { host: '0.0.0.0', port: 8720, tokens: [] as ApiToken[], allowedHosts: [] as string[], trustProxy: [] as string[] };
    const doctor = (t: object) => checkTrackerExposure({ tracker: { slaMs: 1, overdueCheckMs: 1, database: 'x', schema: 'lethe', ...tracker, ...t } });
    expect(doctor({})).toEqual([expect.objectContaining({ level: 'problem', subject: 'tracker.host' })]);
    expect(doctor({ tokens })).toEqual([expect.objectContaining({ level: 'problem', message: expect.stringMatching(/without TLS/) })]);
    expect(doctor({ tokens, tls: { cert: 'c', key: 'k' } })).toEqual([expect.objectContaining({ level: 'ok', message: '0.0.0.0:8720 over TLS; 2 token(s), 1 operator(s)' })]);
    expect(doctor({ host: '127.0.0.1' })).toEqual([expect.objectContaining({ level: 'warn', message: expect.stringMatching(/reads \(statuses, reports, subject keys\) are open to every user.*writes \(confirm\) need an operator token/) })]);
  });
});

describe('confirmation input', () => {
  const ok = { system: 'support-inbox', by: 'Alice', note: 'ticket 4411' };
  it('bounds by and note, keeps by to one line, and names the field at fault', () => {
    expect(confirmationInput.parse({ system: 'support-inbox', by: '  Alice ' })).toEqual({ system: 'support-inbox', by: 'Alice', note: '' });
    expect(confirmationInput.safeParse({ ...ok, note: 'line 1\nline 2\ttab' }).success).toBe(true);
    const issues = (value: object) => confirmationInput.safeParse(value).error?.issues.map((i) => [i.path.join('.'), i.message]);
    expect(issues({ ...ok, note: 'x'.repeat(2001) })).toEqual([['note', 'at most 2000 characters']]);
    expect(issues({ ...ok, by: 'x'.repeat(201) })).toEqual([['by', 'at most 200 characters']]);
    expect(issues({ ...ok, by: 'Alice\nConfirmed by the CEO' })).toEqual([['by', 'one line of text, without control characters']]);
    expect(issues({ ...ok, by: '   ' })).toEqual([['by', 'who confirms is required']]);
    expect(issues({ ...ok, note: 'bell\u0007' })).toEqual([['note', 'text without control characters (line breaks and tabs are fine)']]);
    expect(confirmationInput.safeParse({ ...ok, extra: 1 }).success).toBe(false);
  });

  it('accepts only a manual system of the catalog', () => {
    const catalog = { manual: [{ name: 'support-inbox', owner: 'o', action: 'a' }] };
    expect(() => assertManualSystem(catalog, 'support-inbox')).not.toThrow();
    expect(() => assertManualSystem(catalog, 'billing')).toThrow('system: billing is not a manual system of the catalog (manual: support-inbox)');
  });
});
