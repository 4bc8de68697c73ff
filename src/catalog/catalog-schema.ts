import { z } from 'zod';
import { integer } from './zod-integer.js';
import { durationText } from './duration.js';
import { sinksSchema } from './sinks-schema.js';
import { trackerAccessFields } from './api-access-schema.js';
import { columnName, tableName } from './zod-identifier.js';
import { HMAC_KEY_ID, HMAC_KEY_ID_RULE } from './pseudonymization.js';
import { identitiesSchema, onRequestSchema } from './request-handlers-schema.js';
import { requestsSchema } from './requests-schema.js';

/**
 * The catalog file's one zod schema. Objects are strict, so a misspelt key is an error with its
 * path rather than a silently ignored setting. Names are parsed with PostgreSQL's identifier
 * rules here, so everything downstream holds resolved names.
 */

const SLOT_NAME = /^[a-z0-9_]{1,63}$/;
const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;
const SUBJECT_TYPE = /^[A-Za-z][A-Za-z0-9_-]*$/;

/** One column, or a non-empty list of them (a composite key). */
const columns = z
  .union([columnName.transform((c) => [c]), z.array(columnName).min(1, 'needs at least one column')])
  .refine((list) => new Set(list).size === list.length, 'a column is listed twice');

const becomes = z.union([
  z.literal('not_null').transform(() => ({ kind: 'not_null' as const })),
  z.literal('null').transform(() => ({ kind: 'null' as const })),
  z.object({ equals: z.union([z.string(), z.number(), z.boolean()]) }).strict().transform((v) => ({ kind: 'equals' as const, value: v.equals })),
], { error: 'becomes is not_null, null, or { equals: <value> }' });

const erasureRule = z.union([
  z.literal('delete').transform(() => ({ kind: 'delete' as const })),
  z
    .object({ update: z.object({ column: columnName, becomes }).strict() })
    .strict()
    .transform((r) => ({ kind: 'update' as const, column: r.update.column, becomes: r.update.becomes })),
], { error: 'an erasedWhen rule is delete, or { update: { column: <column>, becomes: not_null | null | { equals: <value> } } }' });

// `key`: the related table's primary key, declared when a sink's template names its rows'
// columns ({row.<column>}): events carry exactly those columns of a related row (doctor and the
// reader check them against the database).
const relatedEntry = z.object({ table: tableName, subjectColumn: columns, key: columns.optional() }).strict();

const subject = z
  .object({
    table: tableName,
    key: columns,
    // How a privacy request's identity (an email address) finds the subject on the root table.
    identities: identitiesSchema,
    erasedWhen: z.array(erasureRule).min(1).default([{ kind: 'delete' as const }]),
    related: z.array(relatedEntry).default([]),
    // How a privacy request erases the subject in the primary, per table (request-handlers.ts).
    onRequest: onRequestSchema,
  })
  .strict();

const SYSTEM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const systemName = z.string().regex(SYSTEM_NAME, 'a name is letters, digits, ., _ and -');
const subjectTypes = z.array(z.string().regex(SUBJECT_TYPE)).min(1).optional();

/** A system someone erases by hand and confirms: a support inbox, a vendor's portal. */
const manualSystem = z
  .object({ name: systemName, owner: z.string().min(1), action: z.string().min(1), subjects: subjectTypes })
  .strict();

/** A backup is not erased: it holds the data until its retention ends, and replay follows a restore. */
const backup = z
  .object({ name: systemName, retention: durationText, onRestore: z.string().min(1).optional(), subjects: subjectTypes })
  .strict();

const brokers = z
  .union([z.string(), z.array(z.string())])
  .transform((value) => (Array.isArray(value) ? value : value.split(',')).map((b) => b.trim()).filter(Boolean))
  .refine((list) => list.length > 0, 'needs at least one broker (host:port)');

export const catalogFileSchema = z
  .object({
    source: z
      .object({
        url: z.string().min(1),
        publication: z
          .string()
          .regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, 'a publication name is letters, digits and underscores, at most 63')
          .default('lethe'),
        slot: z
          .string()
          .regex(SLOT_NAME, 'a slot name is lower-case letters, digits and underscores, at most 63 (Postgres rule; the replication client also puts it into SQL unquoted)')
          .default('lethe'),
        // How often the reader writes a heartbeat into the WAL, so an idle slot still advances.
        heartbeatIntervalMs: integer(100).default(10_000),
        // How long the reader may wait before confirming durable commits to the slot: 0 confirms
        // after every batch; more means fewer round trips and more redelivery after a crash.
        ackIntervalMs: integer(0).default(0),
      })
      .strict(),
    kafka: z
      .object({
        brokers,
        schemaRegistry: z.string().url(),
        topics: z
          .object({
            erasures: z.string().regex(TOPIC_NAME, 'not a valid Kafka topic name').default('lethe.subject-erased'),
            // Default: lethe.acks and lethe.erasure-status beside the default erasures topic, else
            // <erasures>.acks and <erasures>.status, so two deployments never fold each other's acks.
            acks: z.string().regex(TOPIC_NAME, 'not a valid Kafka topic name').optional(),
            status: z.string().regex(TOPIC_NAME, 'not a valid Kafka topic name').optional(),
          })
          .strict()
          .default({ erasures: 'lethe.subject-erased' }),
        // The namespace of this deployment's consumer groups and its own topics (retry, dead
        // letters, sink health); by default the erasures topic's name (src/kafka/topology.ts).
        groupPrefix: z.string().regex(TOPIC_NAME, 'a group prefix is a valid Kafka topic name').optional(),
        // What Lethe creates its topics with. -1: the broker's default.replication.factor. Doctor
        // warns when one broker's loss could lose an erasure (factor or min.insync.replicas < 2).
        replication: z
          .object({ factor: integer(-1, 32).default(-1), minInsyncReplicas: integer(1, 32).default(1) })
          .strict()
          .refine((r) => r.factor !== 0, { path: ['factor'], message: '-1 (the broker default) or at least 1' })
          // No write with acks=all could succeed: every erasure would wait forever.
          .refine((r) => r.factor <= 0 || r.minInsyncReplicas <= r.factor, { path: ['minInsyncReplicas'], message: 'more than the replication factor: no write could ever be acknowledged' })
          .default({ factor: -1, minInsyncReplicas: 1 }),
        // The largest record batch Lethe sends: an erasure event over it goes out in parts. Under
        // the broker's message.max.bytes (default 1048588) and the erasures topic's max.message.bytes.
        maxMessageBytes: integer(16_384).default(1_000_000),
      })
      .strict(),
    subjects: z
      .record(z.string().regex(SUBJECT_TYPE, 'a subject type starts with a letter, then letters, digits, - or _'), subject)
      .refine((s) => Object.keys(s).length > 0, 'at least one subject type is needed'),
    sinks: sinksSchema.optional(),
    // Keyed pseudonymization (`hmac` replacements): the id of the key, whose secret comes from
    // the environment (src/catalog/pseudonymization.ts), never from this file.
    pseudonymization: z.object({ hmacKey: z.string().regex(HMAC_KEY_ID, HMAC_KEY_ID_RULE) }).strict().optional(),
    // Copies no consumer can reach: a person confirms them, or they expire.
    // Privacy requests: intake, verification, grace period, approval (src/catalog/requests-schema.ts).
    requests: requestsSchema.optional(),
    manual: z.array(manualSystem).default([]),
    backups: z.array(backup).default([]),
    tracker: z
      .object({
        // How long an erasure may take before it is overdue. The legal bound is one month.
        sla: durationText.default(72 * 3_600_000),
        host: z.string().min(1).default('127.0.0.1'),
        port: integer(0, 65_535).default(8720),
        // How often erasures are checked against the SLA.
        overdueCheckMs: integer(100).default(60_000),
        // Where the tracker keeps status: the source database unless another is named.
        database: z.string().min(1).optional(),
        schema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a schema name is lower-case letters, digits and underscores').default('lethe'),
        ...trackerAccessFields,
      })
      .strict()
      .default({ sla: 72 * 3_600_000, host: '127.0.0.1', port: 8720, overdueCheckMs: 60_000, schema: 'lethe', tokens: [], allowedHosts: [], trustProxy: [] }),
  })
  .strict();

export type CatalogFile = z.output<typeof catalogFileSchema>;
