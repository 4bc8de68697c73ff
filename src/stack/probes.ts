import { Client as ElasticsearchClient } from '@elastic/elasticsearch';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { createBigQueryClient } from '../../connectors/bigquery-client.js';
import { ServiceUnavailableError } from '../errors.js';
import { Mailer } from '../requests/mailer.js';
import type { Endpoints } from './endpoints.js';

/**
 * One probe per backing service, through the same client Lethe uses for it. A probe answers with
 * a short description (version, mode) or throws ServiceUnavailableError naming the service.
 */
export type ServiceName =
  | 'postgres'
  | 'kafka'
  | 'schema-registry'
  | 'redis'
  | 'elasticsearch'
  | 'bigquery'
  | 'smtp'
  | 'mailpit';

export interface ProbeResult {
  service: ServiceName;
  ok: boolean;
  detail: string;
}

const PROBE_TIMEOUT_MS = 5_000;

async function probePostgres(e: Endpoints): Promise<string> {
  const client = new pg.Client({ connectionString: e.databaseUrl, connectionTimeoutMillis: PROBE_TIMEOUT_MS });
  await client.connect();
  try {
    const { rows } = await client.query<{ version: string; wal_level: string }>(
      "SELECT current_setting('server_version') AS version, current_setting('wal_level') AS wal_level",
    );
    const row = rows[0];
    if (!row) throw new Error('no answer to a version query');
    if (row.wal_level !== 'logical') {
      throw new Error(`wal_level is '${row.wal_level}', logical decoding needs 'logical'`);
    }
    return `PostgreSQL ${row.version}, wal_level=logical`;
  } finally {
    await client.end();
  }
}

async function probeKafka(e: Endpoints): Promise<string> {
  const kafka = new Kafka({
    clientId: 'lethe-probe',
    brokers: e.kafkaBrokers,
    connectionTimeout: PROBE_TIMEOUT_MS,
    retry: { retries: 1 },
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const cluster = await admin.describeCluster();
    return `cluster ${cluster.clusterId}, ${cluster.brokers.length} broker(s), controller ${cluster.controller}`;
  } finally {
    await admin.disconnect();
  }
}

async function probeSchemaRegistry(e: Endpoints): Promise<string> {
  const response = await fetch(new URL('/subjects', e.schemaRegistryUrl), {
    signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
  });
  if (!response.ok) throw new Error(`GET /subjects answered ${response.status}`);
  // This registry answers `null` rather than `[]` when nothing is registered yet.
  const subjects = ((await response.json()) as unknown[] | null) ?? [];
  return `${subjects.length} subject(s) registered`;
}

async function probeRedis(e: Endpoints): Promise<string> {
  const redis = new Redis(e.redisUrl, {
    lazyConnect: true,
    connectTimeout: PROBE_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  try {
    await redis.connect();
    const info = await redis.info('server');
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
    return `Redis ${version}`;
  } finally {
    redis.disconnect();
  }
}

async function probeElasticsearch(e: Endpoints): Promise<string> {
  const client = new ElasticsearchClient({
    node: e.elasticsearchUrl,
    requestTimeout: PROBE_TIMEOUT_MS,
    maxRetries: 0,
  });
  try {
    const info = await client.info();
    const health = await client.cluster.health();
    return `Elasticsearch ${info.version.number}, cluster ${health.cluster_name} ${health.status}`;
  } finally {
    await client.close();
  }
}

async function probeBigQuery(e: Endpoints): Promise<string> {
  const bigquery = createBigQueryClient({ projectId: e.bigqueryProjectId, apiEndpoint: e.bigqueryApiEndpoint });
  const [datasets] = await bigquery.getDatasets();
  return `project ${e.bigqueryProjectId}, ${datasets.length} dataset(s)`;
}

async function probeSmtp(e: Endpoints): Promise<string> {
  const mailer = new Mailer({ smtp: e.smtpUrl, from: 'lethe-probe@localhost', timeoutMs: PROBE_TIMEOUT_MS });
  try {
    await mailer.verify();
    return `SMTP ${mailer.server} accepts connections`;
  } finally {
    mailer.close();
  }
}

/** Mailpit's HTTP API: where the tests read back the mail sent to SMTP_URL. */
async function probeMailpit(e: Endpoints): Promise<string> {
  const response = await fetch(new URL('/api/v1/info', e.mailpitUrl), {
    signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
  });
  if (!response.ok) throw new Error(`GET /api/v1/info answered ${response.status}`);
  const info = (await response.json()) as { Version?: string; Messages?: number };
  return `Mailpit ${info.Version ?? 'unknown'}, ${info.Messages ?? 0} message(s)`;
}

const PROBES: Record<ServiceName, (e: Endpoints) => Promise<string>> = {
  postgres: probePostgres,
  kafka: probeKafka,
  'schema-registry': probeSchemaRegistry,
  redis: probeRedis,
  elasticsearch: probeElasticsearch,
  bigquery: probeBigQuery,
  smtp: probeSmtp,
  mailpit: probeMailpit,
};

export const SERVICE_NAMES = Object.keys(PROBES) as ServiceName[];

function withDeadline<T>(service: ServiceName, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${(PROBE_TIMEOUT_MS * 2) / 1000} s`)),
      PROBE_TIMEOUT_MS * 2,
    );
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/** Probes one service; throws ServiceUnavailableError naming it. */
export async function probeService(service: ServiceName, endpoints: Endpoints): Promise<string> {
  try {
    return await withDeadline(service, PROBES[service](endpoints));
  } catch (error) {
    if (error instanceof ServiceUnavailableError && error.service === service) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new ServiceUnavailableError(service, reason, { cause: error });
  }
}

/** Probes every service concurrently and reports each, failed or not. */
export async function probeAll(endpoints: Endpoints): Promise<ProbeResult[]> {
  return Promise.all(
    SERVICE_NAMES.map(async (service) => {
      try {
        return { service, ok: true, detail: await probeService(service, endpoints) };
      } catch (error) {
        return { service, ok: false, detail: (error as Error).message };
      }
    }),
  );
}
