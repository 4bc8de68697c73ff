import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { InvariantError, LetheError, reasonOf, RecordError, ServiceUnavailableError } from '../errors.js';

const SCHEMA_DIR = resolve(import.meta.dirname, '../../schemas');
/** Works from src/ (tests) and from dist/src/ (the built CLI), which both sit two levels down. */
function schemaDir(): string {
  for (const dir of [SCHEMA_DIR, resolve(import.meta.dirname, '../../../schemas')]) {
    try {
      readFileSync(resolve(dir, 'subject-erased.avsc'));
      return dir;
    } catch {
      // next
    }
  }
  throw new Error(`schemas/ not found from ${import.meta.dirname}`);
}

export function readSchema(name: 'subject-erased' | 'erasure-ack' | 'erasure-status'): string {
  return readFileSync(resolve(schemaDir(), `${name}.avsc`), 'utf8');
}

/** The registry subject for a topic's values (Confluent's TopicNameStrategy). */
export function valueSubject(topic: string): string {
  return `${topic}-value`;
}

/** Deletes a topic's value subject from the registry (soft, then permanent), ignoring absence. */
export async function deleteValueSubject(registryUrl: string, topic: string): Promise<void> {
  const subject = new URL(`/subjects/${encodeURIComponent(valueSubject(topic))}`, registryUrl);
  await fetch(subject, { method: 'DELETE' });
  await fetch(`${subject}?permanent=true`, { method: 'DELETE' });
}

/**
 * Avro encoding of one event type on one topic through the schema registry: the schema in
 * schemas/ is registered under the topic's value subject with BACKWARD compatibility, so a
 * consumer built on an older schema keeps reading newer events.
 */
export class EventCodec<T extends object> {
  private schemaId: number | undefined;

  constructor(
    private readonly registry: SchemaRegistry,
    private readonly topic: string,
    private readonly schemaName: 'subject-erased' | 'erasure-ack' | 'erasure-status',
  ) {}

  /** Registers the schema (idempotent: the same schema returns the same id). */
  async register(): Promise<number> {
    try {
      const { id } = await this.registry.register(
        { type: SchemaType.AVRO, schema: readSchema(this.schemaName) },
        { subject: valueSubject(this.topic), compatibility: COMPATIBILITY.BACKWARD },
      );
      this.schemaId = id;
      return id;
    } catch (error) {
      const message = `registering schemas/${this.schemaName}.avsc under subject ${valueSubject(this.topic)}: ${reasonOf(error)}`;
      // Refused as incompatible: no retry helps. Anything else is the registry's outage, named so
      // a waiting sink's health says what it waits for.
      if (/compatib/i.test(reasonOf(error)) || (error as { status?: number } | null)?.status === 422) {
        throw new LetheError('SCHEMA_REGISTRATION_FAILED', message, { cause: error });
      }
      throw new ServiceUnavailableError('schema-registry', message, { code: 'SCHEMA_REGISTRATION_FAILED', cause: error });
    }
  }

  async encode(value: T): Promise<Buffer> {
    const id = this.schemaId ?? (await this.register());
    try {
      return await this.registry.encode(id, value);
    } catch (error) {
      // What Lethe builds does not fit its own schema: a bug, never retried in a loop.
      if (error instanceof Error && error.name === 'ConfluentSchemaRegistryValidationError') {
        throw new InvariantError(`a value does not fit schemas/${this.schemaName}.avsc: ${error.message}`, { cause: error });
      }
      throw new ServiceUnavailableError('schema-registry', `reading schema id ${id}: ${reasonOf(error)}`, { cause: error });
    }
  }

  /**
   * Decodes any registered version of the schema (the writer's id travels in the record). Errors
   * are translated here, once: bytes that are not Confluent-framed, name a schema id the registry
   * does not have, or do not read as that schema are the record's own (`RecordError`); the
   * registry unreachable, slow or failing is a wait (`ServiceUnavailableError`).
   */
  async decode(buffer: Buffer): Promise<T> {
    if (buffer.length < 5 || buffer[0] !== 0) throw new RecordError('UNDECODABLE', 'not a schema-registry framed record (no magic byte 0 and schema id)');
    const id = buffer.readInt32BE(1);
    try {
      await this.registry.getSchema(id);
    } catch (error) {
      if ((error as { status?: number }).status === 404) throw new RecordError('UNDECODABLE', `schema id ${id} is not in the registry`, { cause: error });
      throw new ServiceUnavailableError('schema-registry', `reading schema id ${id}: ${reasonOf(error)}`, { cause: error });
    }
    try {
      // The writer's schema is cached now: what fails from here is the bytes themselves.
      return (await this.registry.decode(buffer)) as T;
    } catch (error) {
      throw new RecordError('UNDECODABLE', `bytes do not read as schema id ${id}: ${reasonOf(error)}`, { cause: error });
    }
  }
}
