import { z } from 'zod';
import { integer } from './zod-integer.js';
import { tableName } from './zod-identifier.js';
import { placeholders, TemplateError } from './key-template.js';

/**
 * The `sinks` section: per sink, its connection settings and, under each subject type's name,
 * where that subject's data lives in the store. Subject-type keys are checked against the
 * catalog's subjects after parsing, so a misspelt setting is reported, not taken for a type.
 */
function template(allowRow: boolean) {
  return z.string().min(1).superRefine((text, ctx) => {
    try {
      placeholders(text, allowRow);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as TemplateError).message });
    }
  });
}

const table = tableName;

const redisSubject = z
  .object({
    keys: z.array(template(false)).default([]),
    hashFields: z.array(z.object({ key: template(false), field: template(false) }).strict()).default([]),
    setMembers: z.array(z.object({ key: template(false), member: template(false) }).strict()).default([]),
    related: z.record(z.string(), z.array(template(true))).default({}),
  })
  .strict();

const esAction = z.union([
  z.literal('delete').transform(() => ({ kind: 'delete' as const })),
  z.object({ anonymize: z.array(z.string().min(1)).min(1) }).strict().transform((a) => ({ kind: 'anonymize' as const, fields: a.anonymize })),
], { error: 'an Elasticsearch action is delete, or { anonymize: [<field>, …] } (the fields are set to null)' });
/**
 * How a store names the subject: one field holding the key's value, or, for a composite key, a
 * field per key column (`{ tenant_id: tenant, AccountId: account_id }`).
 */
function match(field: z.ZodString) {
  return z.union([field, z.record(z.string().min(1), field).refine((m) => Object.keys(m).length > 0, 'names no key column')], {
    error: 'a match is one field name, or { <key column>: <field>, … } for a composite key',
  });
}

const esTarget = z.object({ index: z.string().min(1), match: match(z.string().min(1)), action: esAction }).strict();

/** What an anonymized BigQuery column becomes; `hmac`'s key id is filled in from `pseudonymization` (sinks.ts). */
export type BqReplacementFile = { kind: 'null' } | { kind: 'literal'; value: string | number | boolean } | { kind: 'hash' } | { kind: 'hmac' };
const REPLACEMENT_FORMS = 'null, hash (SHA-256, unkeyed), hmac (HMAC-SHA256 with pseudonymization.hmacKey), { literal: <text, number or boolean> }';
/** Strategies are closed words and literals are explicit, so a misspelt strategy is an error rather than a literal. */
export const bqReplacement = z.unknown().transform((value, ctx): BqReplacementFile => {
  if (value === null) return { kind: 'null' };
  if (value === 'hash' || value === 'hmac') return { kind: value };
  if (typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 1 && 'literal' in value) {
    const literal = (value as { literal: unknown }).literal;
    if (typeof literal === 'string' || typeof literal === 'number' || typeof literal === 'boolean') return { kind: 'literal', value: literal };
  }
  const hint = typeof value === 'string' ? ` (a fixed text is written { literal: ${JSON.stringify(value)} })` : '';
  ctx.addIssue({ code: 'custom', message: `${JSON.stringify(value)} is not a replacement; the accepted forms are ${REPLACEMENT_FORMS}${hint}` });
  return z.NEVER;
});
const bqAnonymize = z
  .object({ anonymize: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a BigQuery column name'), bqReplacement).refine((r) => Object.keys(r).length > 0, 'names no column') })
  .strict()
  .transform((a) => ({ kind: 'anonymize' as const, columns: a.anonymize }));
/** Not a union: a union's error would hide which column's replacement is wrong. */
const bqAction = z.unknown().transform((value, ctx) => {
  if (value === 'delete') return { kind: 'delete' as const };
  if (typeof value !== 'object' || value === null || Object.keys(value).join() !== 'anonymize') {
    ctx.addIssue({ code: 'custom', message: 'a BigQuery action is delete, or { anonymize: { <column>: <strategy>, … } } (strategies: null, hash, hmac, { literal: <value> })' });
    return z.NEVER;
  }
  const parsed = bqAnonymize.safeParse(value);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) ctx.addIssue({ ...issue } as Parameters<typeof ctx.addIssue>[0]);
  return z.NEVER;
});
const bqTarget = z
  .object({
    table: z.string().regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_]+$/, 'a BigQuery table is dataset.table'),
    match: match(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a BigQuery column name')),
    action: bqAction,
  })
  .strict();

const compactedTarget = z
  .object({
    topic: z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'not a valid Kafka topic name'),
    key: template(true),
    related: table.optional(),
    // How the application serializes the topic's keys: compaction compares key bytes.
    keyFormat: z.enum(['string', 'avro', 'json']).default('string'),
    // How the application's producer picks a key's partition: murmur2 (the Java client's
    // default), crc32 (librdkafka's default: confluent-kafka-python, Go, node-rdkafka).
    partitioner: z.enum(['murmur2', 'crc32']).default('murmur2'),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (t.key.includes('{row.') && !t.related) {
      ctx.addIssue({ code: 'custom', path: ['key'], message: '{row.<column>} needs `related: <table>` to say whose rows' });
    }
  });

const PARTITIONS_IN_PARALLEL = 6;
const CHUNKS_IN_FLIGHT = 2;
/** `sinks.settings` when the catalog has none. */
export const SINK_SETTINGS_DEFAULT = { retryInitialMs: 200, retryMaxMs: 5_000, maxBatchEvents: 200, deferredRetryMs: 600_000, partitionsInParallel: PARTITIONS_IN_PARALLEL, chunksInFlight: CHUNKS_IN_FLIGHT };

export const sinksSchema = z
  .object({
    redis: z.object({ url: z.string().min(1) }).catchall(redisSubject).optional(),
    elasticsearch: z.object({ node: z.string().min(1) }).catchall(z.array(esTarget).min(1)).optional(),
    bigquery: z
      .object({
        projectId: z.string().min(1),
        apiEndpoint: z.string().url().optional(),
        batch: z
          .object({ maxSubjects: integer(1, 10_000).default(500), maxWaitMs: integer(0).default(2000) })
          .strict()
          .default({ maxSubjects: 500, maxWaitMs: 2000 }),
      })
      .catchall(z.array(bqTarget).min(1))
      .optional(),
    compacted: z
      .object({
        // The read-back after writing: first from each partition's start (up to `historyRecords`
        // offsets before the tombstones, to say which keys had a record), then from where the last
        // one ended (at most `historyRecords` live keys kept per partition), to its high
        // watermark, within `timeoutMs`.
        verification: z
          .object({ historyRecords: integer(0).default(100_000), timeoutMs: integer(1).default(30_000) })
          .strict()
          .default({ historyRecords: 100_000, timeoutMs: 30_000 }),
      })
      .catchall(z.array(compactedTarget).min(1))
      .optional(),
    /** Settings shared by every sink's consumer group. */
    settings: z
      .object({
        // A server that is down is waited out for as long as it takes: tries back off from
        // retryInitialMs, doubling, up to retryMaxMs between tries (so a recovered server is used
        // again within about that long). There is no attempt limit: an outage is never a failure.
        retryInitialMs: integer(1).default(200),
        retryMaxMs: integer(1).default(5_000),
        maxBatchEvents: integer(1, 10_000).default(200),
        // How long a deferred erasure (BigQuery's streaming buffer) waits before it is tried again.
        deferredRetryMs: integer(10).default(600_000),
        // How many partitions of a group's assignment are worked on at once, and how many chunks
        // of one partition at once (applied in order; a chunk's acks are sent while the next is
        // applied; offsets committed in order). Defaults chosen by the sink bench (README).
        partitionsInParallel: integer(1, 64).default(PARTITIONS_IN_PARALLEL),
        chunksInFlight: integer(1, 16).default(CHUNKS_IN_FLIGHT),
      })
      .strict()
      .default(SINK_SETTINGS_DEFAULT),
  })
  .strict();

export type SinksFile = z.output<typeof sinksSchema>;

/** Keys of a sink's section that are its own settings, not subject types. */
export const SINK_SETTING_KEYS: Record<string, readonly string[]> = {
  redis: ['url'],
  elasticsearch: ['node'],
  bigquery: ['projectId', 'apiEndpoint', 'batch'],
  compacted: ['verification'],
};

