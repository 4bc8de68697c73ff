import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { reasonOf, RecordError, ServiceUnavailableError } from '../src/errors.js';

/**
 * How a compacted topic's record keys are serialized. Compaction compares key bytes, so a
 * tombstone erases a record only when its key has the very bytes the application wrote:
 * `string` (UTF-8), or the registry's Avro or JSON Schema key schema under the topic's key
 * subject (Confluent framing: magic byte 0, the schema id, then the encoded key).
 */
export type KeyFormat = 'string' | 'avro' | 'json';
export const KEY_FORMATS: readonly KeyFormat[] = ['string', 'avro', 'json'];

/** The registry subject for a topic's keys (Confluent's TopicNameStrategy). */
export const keySubject = (topic: string) => `${topic}-key`;

/** The schema id of a Confluent-framed key, or null for bytes without the framing. */
export function framedSchemaId(key: Buffer | null): number | null {
  return key !== null && key.length >= 5 && key[0] === 0 ? key.readInt32BE(1) : null;
}

/** The keys of one topic in one format: bytes for a template's text, and back for a comparison. */
export interface TopicKeys {
  format: KeyFormat;
  /** The schema id tombstones are framed with (avro, json). */
  schemaId: number | null;
  encode(text: string): Promise<Buffer>;
  /** A key's value as JSON, to compare keys across schema ids. */
  logical(text: string): string;
  /** A framed key (under any schema id) decoded, as JSON; undefined when no registered schema reads it. */
  logicalOf(framed: Buffer): Promise<string | undefined>;
}

const CANONICAL_INTEGER = /^-?(0|[1-9]\d*)$/;

/**
 * The key value a schema takes for a template's text: the text for a string type, the number
 * for an integer type, and a record (object) of one such field. Other shapes are not supported:
 * null, so the target fails naming the subject rather than write a key no record has.
 */
export function keyValueOf(format: 'avro' | 'json', schema: unknown, text: string): unknown {
  const shaped = (type: unknown, fields: unknown): unknown => {
    if (type === 'string') return text;
    if (type === 'int' || type === 'long' || type === 'integer') {
      const n = Number(text);
      return CANONICAL_INTEGER.test(text) && Number.isSafeInteger(n) ? n : null;
    }
    if ((type === 'record' || type === 'object') && Array.isArray(fields) && fields.length === 1) {
      const [name, inner] = fields[0] as [string, unknown];
      const value = shaped(...typeOf(inner));
      return value === null ? null : { [name]: value };
    }
    return null;
  };
  const typeOf = (s: unknown): [unknown, unknown] => {
    if (typeof s === 'string') return [s, undefined];
    const o = (s ?? {}) as { type?: unknown; fields?: Array<{ name: string; type: unknown }>; properties?: Record<string, unknown> };
    if (format === 'avro') return [o.type, o.fields?.map((f) => [f.name, f.type])];
    return [o.type, o.properties ? Object.entries(o.properties) : undefined];
  };
  return shaped(...typeOf(schema));
}

/**
 * Key encoders per topic, the registry's key subject read once per topic. Errors are translated
 * here: a subject that does not exist, holds another kind of schema or a key shape Lethe cannot
 * fill is the target's failure (`RecordError`, naming the subject); the registry unreachable is
 * a wait.
 */
export class KeyFormats {
  private readonly cache = new Map<string, Promise<TopicKeys>>();

  constructor(
    private readonly registryUrl: string,
    private readonly registry: SchemaRegistry,
  ) {}

  forTopic(topic: string, format: KeyFormat): Promise<TopicKeys> {
    if (format === 'string') return Promise.resolve(STRING_KEYS);
    const id = `${format}:${topic}`;
    let keys = this.cache.get(id);
    if (!keys) {
      keys = this.load(topic, format);
      // A failure (a subject being registered, the registry down) is looked up again next time.
      keys.catch(() => this.cache.delete(id));
      this.cache.set(id, keys);
    }
    return keys;
  }

  private async load(topic: string, format: 'avro' | 'json'): Promise<TopicKeys> {
    const subject = keySubject(topic);
    const latest = await this.latest(subject);
    const type = (latest.schemaType ?? 'AVRO').toLowerCase();
    if (type !== format) {
      throw new RecordError('KEY_FORMAT', `subject ${subject} holds a ${latest.schemaType ?? 'AVRO'} schema, but the catalog declares keyFormat ${format} for topic ${topic}`);
    }
    const schema: unknown = JSON.parse(latest.schema);
    const valueOf = (text: string) => {
      const value = keyValueOf(format, schema, text);
      if (value === null) throw new RecordError('KEY_FORMAT', `the key does not fit the key schema of subject ${subject} (id ${latest.id}): Lethe fills a string, an integer, or a record of one such field`);
      return value;
    };
    const registry = this.registry;
    return {
      format,
      schemaId: latest.id,
      async encode(text) {
        const value = valueOf(text);
        try {
          return await registry.encode(latest.id, value);
        } catch (error) {
          if (error instanceof Error && error.name === 'ConfluentSchemaRegistryValidationError') {
            throw new RecordError('KEY_FORMAT', `the key does not fit the key schema of subject ${subject} (id ${latest.id})`, { cause: error });
          }
          throw new ServiceUnavailableError('schema-registry', `encoding a key with schema id ${latest.id}: ${reasonOf(error)}`, { cause: error });
        }
      },
      logical: (text) => JSON.stringify(valueOf(text)),
      async logicalOf(framed) {
        const id = framed.readInt32BE(1);
        try {
          await registry.getSchema(id);
        } catch (error) {
          // A key under a schema id the registry does not have is no key this subject's schema reads.
          if ((error as { status?: number }).status === 404) return undefined;
          throw new ServiceUnavailableError('schema-registry', `reading schema id ${id} of a key of topic ${topic}: ${reasonOf(error)}`, { cause: error });
        }
        try {
          return JSON.stringify(await registry.decode(framed));
        } catch {
          return undefined;
        }
      },
    };
  }

  private async latest(subject: string): Promise<{ id: number; schema: string; schemaType?: string }> {
    const url = new URL(`/subjects/${encodeURIComponent(subject)}/versions/latest`, this.registryUrl);
    let response: Response;
    try {
      response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    } catch (error) {
      throw new ServiceUnavailableError('schema-registry', `reading subject ${subject}: ${reasonOf(error)}`, { cause: error });
    }
    if (response.status === 404) throw new RecordError('KEY_FORMAT', `no key schema is registered under subject ${subject}`);
    if (!response.ok) throw new ServiceUnavailableError('schema-registry', `reading subject ${subject}: HTTP ${response.status}`);
    return (await response.json()) as { id: number; schema: string; schemaType?: string };
  }
}

const STRING_KEYS: TopicKeys = {
  format: 'string',
  schemaId: null,
  encode: (text) => Promise.resolve(Buffer.from(text, 'utf8')),
  logical: (text) => JSON.stringify(text),
  logicalOf: () => Promise.resolve(undefined),
};
