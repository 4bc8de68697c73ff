import { describe, expect, it } from 'vitest';
import { resolveRequests, requestsSchema } from '../../../src/catalog/requests-schema.js';
import { checkRequests } from '../../../src/setup/request-checks.js';

const tracker = { host: '127.0.0.1', port: 8720 } as never;
const catalog = (section: Record<string, unknown>) => ({ tracker, requests: resolveRequests(requestsSchema.parse(section)) });

describe("doctor's request checks", () => {
  it('says nothing for a catalog that takes no requests', async () => {
    expect(await checkRequests({ tracker, requests: resolveRequests(undefined) }, {})).toEqual([]);
  });

  it('refuses a missing secret, names the variable, and warns about no mail, no public URL and no grace period', async () => {
    const findings = await checkRequests(catalog({ gracePeriod: { erasure: '0d' } }), {});
    expect(findings.map((f) => [f.level, f.subject])).toEqual([
      ['problem', 'requests'],
      ['warn', 'requests.mail'],
      ['warn', 'requests.publicUrl'],
      ['warn', 'requests.gracePeriod.erasure'],
    ]);
    expect(findings[0]!.message).toContain('LETHE_REQUEST_SECRET');
  });

  it('warns about links over plain http beyond loopback, never printing the secret', async () => {
    const secret = 'a'.repeat(40);
    const findings = await checkRequests(catalog({ publicUrl: 'http://privacy.shop.example' }), { LETHE_REQUEST_SECRET: secret });
    expect(findings.find((f) => f.subject === 'requests.publicUrl')?.message).toMatch(/plain http/);
    expect(JSON.stringify(findings)).not.toContain(secret);
    expect((await checkRequests(catalog({ publicUrl: 'http://127.0.0.1:8720' }), { LETHE_REQUEST_SECRET: secret })).some((f) => f.subject === 'requests.publicUrl')).toBe(false);
  });
});
