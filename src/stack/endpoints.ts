import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** The variables `make up` writes to .stack/env (and docker-compose.yml maps to the same ports). */
export const ENDPOINT_VARIABLES = [
  'DATABASE_URL',
  'KAFKA_BROKERS',
  'SCHEMA_REGISTRY_URL',
  'REDIS_URL',
  'ELASTICSEARCH_URL',
  'BIGQUERY_API_ENDPOINT',
  'BIGQUERY_PROJECT_ID',
  'SMTP_URL',
  'MAILPIT_URL',
] as const;

export type EndpointVariable = (typeof ENDPOINT_VARIABLES)[number];

const endpointsSchema = z.object({
  DATABASE_URL: z.string().url(),
  KAFKA_BROKERS: z.string().min(1),
  SCHEMA_REGISTRY_URL: z.string().url(),
  REDIS_URL: z.string().url(),
  ELASTICSEARCH_URL: z.string().url(),
  BIGQUERY_API_ENDPOINT: z.string().url(),
  BIGQUERY_PROJECT_ID: z.string().min(1),
  SMTP_URL: z
    .string()
    .url()
    .refine((value) => /^smtps?:\/\//.test(value), 'an smtp:// or smtps:// URL'),
  MAILPIT_URL: z.string().url(),
});

export interface Endpoints {
  databaseUrl: string;
  kafkaBrokers: string[];
  schemaRegistryUrl: string;
  redisUrl: string;
  elasticsearchUrl: string;
  bigqueryApiEndpoint: string;
  bigqueryProjectId: string;
  /** Where Lethe sends mail (the stack's Mailpit). */
  smtpUrl: string;
  /** Mailpit's HTTP API, where the tests read that mail back. */
  mailpitUrl: string;
}

/** Parses `KEY=value` lines (comments and blanks ignored), as written by `make up`. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

export function readEnvFile(path: string): Record<string, string> | undefined {
  try {
    return parseEnvFile(readFileSync(path, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Names the variables that are absent or empty. */
export function missingVariables(env: Record<string, string | undefined>): EndpointVariable[] {
  return ENDPOINT_VARIABLES.filter((name) => !env[name]);
}

/** Validates the variables into typed endpoints; the error names each bad variable. */
export function resolveEndpoints(env: Record<string, string | undefined>): Endpoints {
  const parsed = endpointsSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`bad service endpoints: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  return {
    databaseUrl: e.DATABASE_URL,
    kafkaBrokers: e.KAFKA_BROKERS.split(',').map((b) => b.trim()).filter(Boolean),
    schemaRegistryUrl: e.SCHEMA_REGISTRY_URL,
    redisUrl: e.REDIS_URL,
    elasticsearchUrl: e.ELASTICSEARCH_URL,
    bigqueryApiEndpoint: e.BIGQUERY_API_ENDPOINT,
    bigqueryProjectId: e.BIGQUERY_PROJECT_ID,
    smtpUrl: e.SMTP_URL,
    mailpitUrl: e.MAILPIT_URL,
  };
}
