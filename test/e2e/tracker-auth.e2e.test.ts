import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { createToken } from '../../src/tracker/api-tokens.js';
import type { ErasureStatus } from '../../src/tracker/erasure-status.js';
import { TrackerService } from '../../src/tracker/tracker-service.js';
import { cdcFixture } from '../support/cdc-fixture.js';
import { uniqueName } from '../support/names.js';
import { trackerRequest } from '../support/tracker-client.js';
import { waitFor } from '../support/wait-for.js';

const CHROMIUM = '/usr/bin/chromium';

// The tracker's API against forgery: without an operator token no confirmation is recorded and the
// proof does not change; a reader may read, not confirm; a name the tracker is not known by (DNS
// rebinding) and another site's Origin are refused; bodies and fields are bounded; the token's name
// is in the proof; the dashboard asks for a token; metrics stay open on loopback.
describe('tracker API authentication, end to end', () => {
  it('refuses forged, unauthorized, misdirected and oversized confirmations, and records who confirmed', async () => {
    const alice = createToken('ops-alice', 'operator');
    const grafana = createToken('grafana', 'reader');
    const trackerSchema = uniqueName('lethe_auth');
    await using fx = await cdcFixture({
      extra: `manual:
  - { name: support-inbox, owner: support@corp.example, action: redact tickets }
  - { name: legal-archive, owner: legal@corp.example, action: shred the paper file }
tracker:
  schema: ${trackerSchema}
  overdueCheckMs: 300
  tokens:
    - { name: ${alice.entry.name}, role: operator, sha256: ${alice.entry.sha256} }
    - { name: ${grafana.entry.name}, role: reader, sha256: ${grafana.entry.sha256} }
`,
    });
    await using _schema = { [Symbol.asyncDispose]: async () => void (await fx.db.client.query(`DROP SCHEMA IF EXISTS ${trackerSchema} CASCADE`)) };

    // Beyond loopback without tokens, the tracker does not start.
    const exposed = new TrackerService({ catalog: { ...fx.catalog, tracker: { ...fx.catalog.tracker, tokens: [] } }, logger: fx.logger, listen: { host: '0.0.0.0', port: 0 } });
    await expect(exposed.run(new AbortController().signal)).rejects.toMatchObject({ code: 'TRACKER_EXPOSED' });

    const reader = fx.startReader();
    await using _reader = { [Symbol.asyncDispose]: () => reader.stop() };
    const controller = new AbortController();
    let listening!: (url: string) => void;
    const url = new Promise<string>((resolve) => (listening = resolve));
    const tracker = new TrackerService({ catalog: fx.catalog, logger: fx.logger, listen: { host: '127.0.0.1', port: 0 }, onListening: listening, metricsRefreshMs: 200 }).run(controller.signal);
    await using _tracker = { [Symbol.asyncDispose]: async () => void (controller.abort(), await tracker) };
    const api = await url;
    const call = (path: string, options: Parameters<typeof trackerRequest>[2] = {}) => trackerRequest(api, path, options);

    const id = randomUUID();
    await fx.db.client.query(`INSERT INTO ${fx.users} ("UserId", email) VALUES ($1, 'auth@seeded.example')`, [id]);
    await fx.db.client.query(`DELETE FROM ${fx.users} WHERE "UserId" = $1`, [id]);
    const erasure = await waitFor(
      async () => ((await call(`/api/subjects/customer:${id}/erasures`, { token: grafana.token })).json?.erasures as ErasureStatus[] | undefined)?.[0],
      { timeoutMs: 60_000, intervalMs: 200, what: `the erasure of ${id}` },
    );
    const confirmPath = `/api/erasures/${erasure.eventId}/confirm`;
    const reportOf = async () => (await call(`/api/erasures/${erasure.eventId}/report?format=md`, { token: grafana.token })).text;
    const before = await reportOf();
    expect(before).toContain('| manual | support-inbox | pending: support@corp.example to redact tickets |');

    // Reads need a token once tokens are configured.
    const anonymous = await call('/api/erasures');
    expect(anonymous).toMatchObject({ status: 401, json: { error: { code: 'UNAUTHENTICATED' } } });
    expect(anonymous.headers['www-authenticate']).toBe('Bearer realm="lethe"');

    // Forged: no token, a guessed token, the hash for a token, a reader's token.
    const confirmation = { system: 'support-inbox', by: 'Mallory', note: 'done, trust me' };
    expect(await call(confirmPath, { body: confirmation })).toMatchObject({ status: 401, headers: { 'www-authenticate': 'Bearer realm="lethe"' } });
    expect(await call(confirmPath, { body: confirmation, token: 'lethe_guessed' })).toMatchObject({ status: 401, json: { error: { code: 'INVALID_TOKEN' } } });
    expect(await call(confirmPath, { body: confirmation, token: alice.entry.sha256 })).toMatchObject({ status: 401 });
    expect(await call(confirmPath, { body: confirmation, token: grafana.token })).toMatchObject({
      status: 403,
      json: { error: { code: 'FORBIDDEN', message: 'token grafana is a reader; this needs an operator token' } },
    });
    // DNS rebinding: the operator's own browser, on a page of another name, re-pointed at loopback.
    expect(await call(confirmPath, { body: confirmation, token: alice.token, headers: { host: `rebind.evil.example:${new URL(api).port}` } })).toMatchObject({
      status: 421,
      json: { error: { code: 'HOST_NOT_ALLOWED' } },
    });
    expect(await call('/api/erasures', { token: grafana.token, headers: { host: 'rebind.evil.example' } })).toMatchObject({ status: 421 });
    expect(await call(confirmPath, { body: confirmation, token: alice.token, headers: { origin: 'https://evil.example' } })).toMatchObject({ status: 403, json: { error: { code: 'ORIGIN_NOT_ALLOWED' } } });
    // Bounded: the body, each field, the system.
    expect(await call(confirmPath, { body: { ...confirmation, note: 'x'.repeat(900_000) }, token: alice.token })).toMatchObject({ status: 413, json: { error: { code: 'BODY_TOO_LARGE' } } });
    expect(await call(confirmPath, { body: { ...confirmation, note: 'x'.repeat(2001) }, token: alice.token })).toMatchObject({
      status: 400,
      json: { error: { code: 'BAD_REQUEST', message: 'note: at most 2000 characters' } },
    });
    expect(await call(confirmPath, { body: { ...confirmation, by: 'x'.repeat(201) }, token: alice.token })).toMatchObject({ status: 400, json: { error: { message: 'by: at most 200 characters' } } });
    expect(await call(confirmPath, { body: { ...confirmation, system: 'billing' }, token: alice.token })).toMatchObject({ status: 400, json: { error: { code: 'NOT_A_MANUAL_SYSTEM' } } });
    // None of it was recorded.
    expect(await reportOf()).toContain('| manual | support-inbox | pending: support@corp.example to redact tickets |');
    expect(((await call(`/api/erasures/${erasure.eventId}`, { token: grafana.token })).json as unknown as ErasureStatus).timeline.map((t) => t.what)).not.toContain('confirmed');

    // The operator confirms; the proof names the token beside the free text.
    expect(await call(confirmPath, { body: { system: 'support-inbox', by: 'Alice', note: 'ticket 4411 redacted' }, token: alice.token, headers: { origin: api } })).toMatchObject({ status: 201 });
    expect(await reportOf()).toContain('| manual | support-inbox | confirmed by Alice (token ops-alice): ticket 4411 redacted |');

    // `lethe confirm` is trusted by its database access: the proof names the OS user.
    const config = join(tmpdir(), `${trackerSchema}.lethe.yaml`);
    await writeFile(config, fx.yaml);
    await using _config = { [Symbol.asyncDispose]: () => rm(config, { force: true }) };
    await promisify(execFile)('node', ['bin/lethe.js', '-c', config, 'confirm', erasure.eventId, 'legal-archive', '--by', 'Kim']);
    const done = await waitFor(async () => {
      const report = await reportOf();
      return report.includes('legal-archive | confirmed') ? report : undefined;
    }, { timeoutMs: 10_000, what: 'the CLI confirmation in the report' });
    expect(done).toContain(`| manual | legal-archive | confirmed by Kim (lethe confirm as OS user ${userInfo().username}) |`);
    expect(done).toContain('**Removed from all active systems; the catalog declares no backups.**');

    // Metrics stay open on loopback, and come from the background refresh.
    const metrics = await waitFor(async () => {
      const answer = await call('/metrics');
      return answer.status === 200 && /^lethe_erasures\{status="complete"\} [1-9]/m.test(answer.text) ? answer.text : undefined;
    }, { timeoutMs: 10_000, what: 'the complete erasure counted in /metrics' });
    expect(metrics).toMatch(/^lethe_consumer_lag\{/m);

    // The dashboard asks for a token, and shows the erasure once given a reader's.
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    await using _browser = { [Symbol.asyncDispose]: () => browser.close() };
    const page = await browser.newPage();
    await page.goto(api);
    await page.locator('#login:not([hidden])').waitFor({ timeout: 15_000 });
    expect(await page.locator('#login-why').textContent()).toBe('this tracker needs a token');
    await page.fill('#token', grafana.token);
    await page.click('#login button');
    await page.locator(`tr[data-erasure="${erasure.eventId}"][data-status="complete"]`).waitFor({ timeout: 15_000 });
    expect(await page.locator('#live').textContent()).toBe('live');
    expect(page.url()).not.toContain('lethe_');

    // No log line carries a token or a seeded email address.
    expect(fx.logLines.filter((line) => line.includes(alice.token) || line.includes(grafana.token) || line.includes('@seeded.example'))).toEqual([]);
  }, 180_000);
});
