import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { parseCatalog } from '../../../src/catalog/catalog.js';
import { createKafka } from '../../../src/kafka/kafka-client.js';
import { topologyOf } from '../../../src/kafka/topology.js';
import { createToken } from '../../../src/tracker/api-tokens.js';
import { startHttpApi } from '../../../src/tracker/http-api.js';
import { SinkWaits } from '../../../src/tracker/sink-waits.js';
import { StatusStore } from '../../../src/tracker/status-store.js';
import { TrackerMetrics } from '../../../src/tracker/tracker-metrics.js';
import { endpoints } from '../../support/endpoints.js';
import { capturingLogger } from '../../support/log-capture.js';

// tracker.tls: the API serves HTTPS with the catalog's PEM files, and the token still decides.
describe('tracker API over TLS', () => {
  it('serves HTTPS with tracker.tls, and names the file it cannot read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lethe-tls-'));
    await using _dir = { [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) };
    const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
    await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1']);
    const reader = createToken('grafana', 'reader');
    const e = endpoints();
    const yaml = (certPath: string) => `source: { url: "${e.databaseUrl}" }
kafka: { brokers: [${e.kafkaBrokers.join(',')}], schemaRegistry: "${e.schemaRegistryUrl}" }
subjects: { u: { table: t, key: id } }
tracker:
  tls: { cert: ${certPath}, key: ${key} }
  tokens: [{ name: grafana, role: reader, sha256: ${reader.entry.sha256} }]
`;
    const catalog = parseCatalog(yaml(cert), {});
    const { logger } = capturingLogger();
    const store = new StatusStore(e.databaseUrl, 'lethe_tls_unused', () => [], 1000);
    const source = new pg.Pool({ connectionString: e.databaseUrl, max: 1 });
    const admin = createKafka({ brokers: e.kafkaBrokers, clientId: 'tls-test', logger }).admin();
    await using _close = { [Symbol.asyncDispose]: async () => void (await Promise.all([store.close(), source.end()])) };
    // Never started: no refresh, so neither Kafka nor the pool is asked.
    const metrics = new TrackerMetrics({ catalog, store, admin, source, logger, topology: topologyOf(catalog), waits: new SinkWaits() });
    const options = { catalog, store, metrics, waits: new SinkWaits(), changes: new EventEmitter(), publishPending: async () => {}, logger, listen: { host: '127.0.0.1', port: 0 } };
    const api = await startHttpApi(options);
    await using _api = { [Symbol.asyncDispose]: () => api.close() };
    expect(api.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);

    const ca = await readFile(cert);
    const get = (path: string, token?: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request(new URL(path, api.url), { ca, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end();
      });
    expect(await get('/healthz')).toBe(200);
    expect(await get('/api/sinks')).toBe(401);
    expect(await get('/api/sinks', reader.token)).toBe(200);

    await expect(startHttpApi({ ...options, catalog: parseCatalog(yaml(join(dir, 'missing.pem')), {}) })).rejects.toThrow(/^tracker\.tls\.cert: cannot read .*missing\.pem/);
  });
});
