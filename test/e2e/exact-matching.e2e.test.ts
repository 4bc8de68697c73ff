import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { subjectIdOf } from '../../src/cdc/erasure-manifest.js';
import { readTopic } from '../../src/kafka/topic-reader.js';
import type { ErasureStatus } from '../../src/tracker/erasure-status.js';
import { startCli } from '../support/cli-process.js';
import { closedPort } from '../support/closed-port.js';
import { e2eStores } from '../support/e2e-stores.js';
import { endpoints } from '../support/endpoints.js';
import { waitFor } from '../support/wait-for.js';
import { createTopicsWithLeaders } from '../support/kafka-context.js';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '../../bin/lethe.js');

// A schema nobody planned for, driven as a user would (`lethe init`, `lethe run`): members keyed
// by an email address in a quoted mixed-case table, devices keyed by uuid, every store holding
// neighbours that differ from a subject only by case, a trailing space, a prefix or a uuid's last
// group, and Elasticsearch indices left to dynamic mapping (text with a .keyword subfield). Every
// subject must be erased everywhere, every neighbour left whole.
describe('exact erasure on an unplanned schema, end to end', () => {
  it('erases email- and uuid-keyed subjects from every store and no neighbour that differs only by case, spaces or a prefix', async () => {
    const e = endpoints();
    await using stores = await e2eStores({ name: 'exact', schema: 'Exact' });
    const { id, prefix: p, schemaSql: q, dataset, db, redis, es, bq, kafka, admin } = stores;
    const membersTopic = `${p}.members`;
    const port = await closedPort();
    const dir = await mkdtemp(join(tmpdir(), 'lethe-exact-'));
    const config = join(dir, 'lethe.config.yaml');
    await using _cleanup = { [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) };

    // The subjects and their neighbours.
    const member = 'Ada.Lovelace@Example.com';
    const memberNeighbours = ['ada.lovelace@example.com', 'ADA.LOVELACE@EXAMPLE.COM', 'Ada.Lovelace@Example.co', 'Ada.Lovelace@Example.com ', 'x.Ada.Lovelace@Example.com'];
    const device = randomUUID();
    const deviceNeighbours = [`${device.slice(0, 24)}${randomUUID().slice(24)}`, randomUUID()];

    await db.client.query(`CREATE SCHEMA ${q}`);
    await db.client.query(`CREATE TABLE ${q}."Members" ("Email" text PRIMARY KEY, name text)`);
    await db.client.query(`CREATE TABLE ${q}."Devices" ("DeviceId" uuid PRIMARY KEY, label text)`);
    for (const m of [member, ...memberNeighbours]) await db.client.query(`INSERT INTO ${q}."Members" VALUES ($1, 'someone')`, [m]);
    for (const d of [device, ...deviceNeighbours]) await db.client.query(`INSERT INTO ${q}."Devices" VALUES ($1, 'phone')`, [d]);

    // The stores, as an application fills them: no Elasticsearch mapping at all.
    await createTopicsWithLeaders(admin, { topics: [{ topic: membersTopic, numPartitions: 2, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }] });
    const producer = kafka.producer();
    await producer.connect();
    const members = [member, ...memberNeighbours];
    const devices = [device, ...deviceNeighbours];
    for (const m of members) {
      await redis.set(`${p}:member:${m}`, 'profile');
      await redis.set(`${p}:sess:${m}:1`, 'token');
      await redis.hset(`${p}:emails`, m, 'x');
    }
    for (const d of devices) await redis.set(`${p}:device:${d}`, 'device');
    await es.bulk({
      refresh: true,
      operations: [
        ...members.flatMap((m, i) => [{ index: { _index: `${p}-members`, _id: `m${i}` } }, { member_email: m, name: 'someone' }]),
        ...devices.flatMap((d, i) => [{ index: { _index: `${p}-devices`, _id: `d${i}` } }, { device_id: d, label: 'phone' }]),
      ],
    });
    await bq.createDataset(dataset);
    await bq.query({ query: `CREATE TABLE \`${e.bigqueryProjectId}.${dataset}.members\` (email STRING, visits INT64)` });
    for (const m of members) await bq.query({ query: `INSERT INTO \`${e.bigqueryProjectId}.${dataset}.members\` (email, visits) VALUES (@m, 1)`, params: { m } });
    await producer.send({ topic: membersTopic, acks: -1, messages: members.map((m) => ({ key: m, value: 'profile' })) });
    await producer.disconnect();

    const yaml = `${stores.catalogHead}subjects:
  member: { table: '${q}."Members"', key: '"Email"' }
  device: { table: '${q}."Devices"', key: '"DeviceId"' }
sinks:
  settings: { retryInitialMs: 20, retryMaxMs: 500 }
  redis:
    url: ${e.redisUrl}
    member:
      keys: ["${p}:member:{subject}", "${p}:sess:{subject}:*"]
      hashFields: [{ key: "${p}:emails", field: "{subject}" }]
    device: { keys: ["${p}:device:{subject}"] }
  elasticsearch:
    node: ${e.elasticsearchUrl}
    member: [{ index: "${p}-members", match: member_email, action: delete }]
    device: [{ index: "${p}-devices", match: device_id, action: delete }]
  bigquery:
    projectId: ${e.bigqueryProjectId}
    apiEndpoint: ${e.bigqueryApiEndpoint}
    batch: { maxSubjects: 100, maxWaitMs: 200 }
    member: [{ table: ${dataset}.members, match: email, action: delete }]
  compacted:
    member: [{ topic: ${membersTopic}, key: "{subject}" }]
tracker: { schema: ${id}_tracker, host: 127.0.0.1, port: ${port}, overdueCheckMs: 500 }
`;
    await writeFile(config, yaml);
    const init = await run(process.execPath, [CLI, '-c', config, 'init'], { env: process.env });
    expect(init.stdout).toMatch(/publication|slot/);
    await using lethe = startCli(yaml, ['run']);

    await db.client.query(`DELETE FROM ${q}."Members" WHERE "Email" = $1`, [member]);
    await db.client.query(`DELETE FROM ${q}."Devices" WHERE "DeviceId" = $1`, [device]);

    const statusOf = async (subject: string): Promise<ErasureStatus | undefined> => {
      const response = await fetch(`http://127.0.0.1:${port}/api/subjects/${encodeURIComponent(subject)}/erasures`).catch(() => undefined);
      if (!response?.ok) return undefined;
      return ((await response.json()) as { erasures: ErasureStatus[] }).erasures[0];
    };
    const subjects = [`member:${subjectIdOf([member])}`, `device:${device}`];
    let last: unknown;
    await waitFor(
      async () => {
        const statuses = await Promise.all(subjects.map(statusOf));
        last = statuses.map((s) => s && { status: s.status, targets: s.targets.map((t) => [t.sink, t.target, t.state, t.error]) });
        return statuses.every((s) => s?.status === 'complete');
      },
      { timeoutMs: 180_000, intervalMs: 500, what: 'both erasures complete' },
    ).catch((error: Error) => {
      throw new Error(`${error.message}\nstatuses: ${JSON.stringify(last)}\n${lethe.tail(3000)}`);
    });
    const [memberStatus, deviceStatus] = await Promise.all(subjects.map(statusOf));
    // Every target found the subject's copy: nothing was "nothing to do".
    expect(memberStatus!.targets.filter((t) => t.kind === 'sink').map((t) => [t.sink, t.state, t.affected])).toEqual(
      expect.arrayContaining([
        ['elasticsearch', 'applied', 1],
        ['bigquery', 'applied', 1],
        ['compacted', 'applied', 1],
      ]),
    );

    expect(deviceStatus!.targets.find((t) => t.sink === 'elasticsearch')).toMatchObject({ state: 'applied', affected: 1, residual: 0 });
    // The compacted target read its tombstone back as the key's latest record.
    expect(memberStatus!.targets.find((t) => t.sink === 'compacted')!.details).toMatchObject({ verified: '1' });

    // The subjects are gone from every store.
    expect(await redis.exists(`${p}:member:${member}`, `${p}:sess:${member}:1`, `${p}:device:${device}`)).toBe(0);
    expect(await redis.hexists(`${p}:emails`, member)).toBe(0);
    await es.indices.refresh({ index: `${p}-*` });
    const docs = await es.search<{ member_email?: string; device_id?: string }>({ index: `${p}-*`, size: 100, query: { match_all: {} } });
    const left = docs.hits.hits.map((h) => h._source!.member_email ?? h._source!.device_id);
    expect(left.sort()).toEqual([...memberNeighbours, ...deviceNeighbours].sort());
    const [rows] = await bq.query({ query: `SELECT email FROM \`${e.bigqueryProjectId}.${dataset}.members\`` });
    expect((rows as Array<{ email: string }>).map((r) => r.email).sort()).toEqual([...memberNeighbours].sort());
    const latest = new Map<string, string | null>();
    await readTopic(kafka, membersTopic, async (record) => void latest.set(record.key!.toString(), record.value === null ? null : record.value.toString()));
    expect(latest.get(member)).toBeNull();

    // Every neighbour is whole.
    for (const m of memberNeighbours) {
      expect(await redis.exists(`${p}:member:${m}`, `${p}:sess:${m}:1`), m).toBe(2);
      expect(await redis.hexists(`${p}:emails`, m), m).toBe(1);
      expect(latest.get(m), m).toBe('profile');
    }
    for (const d of deviceNeighbours) expect(await redis.exists(`${p}:device:${d}`), d).toBe(1);
  }, 300_000);
});
