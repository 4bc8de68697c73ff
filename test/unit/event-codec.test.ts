import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { describe, expect, it } from 'vitest';
import { closedPort } from '../support/closed-port.js';
import { errorKind, RecordError, ServiceUnavailableError } from '../../src/errors.js';
import { EventCodec } from '../../src/events/event-codec.js';

async function decodeError(codec: EventCodec<object>, bytes: Buffer): Promise<unknown> {
  return codec.decode(bytes).then(
    () => {
      throw new Error('expected decode to fail');
    },
    (error: unknown) => error,
  );
}

describe('EventCodec.decode', () => {
  it("bytes that are not schema-registry framed are the record's own, without asking any server", async () => {
    // No registry at all: a call to it would fail with something other than a RecordError.
    const codec = new EventCodec<object>(new SchemaRegistry({ host: 'http://127.0.0.1:9', retry: { retries: 0 } }), 't', 'subject-erased');
    for (const bytes of [Buffer.from('{"eventId":"e"}'), Buffer.from([0, 0, 0]), Buffer.alloc(0), Buffer.from([1, 0, 0, 0, 1, 2])]) {
      const error = await decodeError(codec, bytes);
      expect(error, bytes.toString('hex')).toBeInstanceOf(RecordError);
      expect((error as RecordError).code).toBe('UNDECODABLE');
      expect(errorKind(error)).toBe('record');
    }
  });

  it('a registry that cannot be reached is a wait for the schema registry, not the record', async () => {
    const port = await closedPort();
    const codec = new EventCodec<object>(new SchemaRegistry({ host: `http://127.0.0.1:${port}`, retry: { retries: 0 } }), 't', 'subject-erased');
    const error = await decodeError(codec, Buffer.from([0, 0, 0, 0, 7, 2, 3]));
    expect(error).toBeInstanceOf(ServiceUnavailableError);
    expect((error as ServiceUnavailableError).service).toBe('schema-registry');
    expect(errorKind(error)).toBe('infrastructure');
    expect((error as Error).message).toContain('schema id 7');
  });

  it('registering against a registry that cannot be reached is a wait for the schema registry', async () => {
    const port = await closedPort();
    const codec = new EventCodec<object>(new SchemaRegistry({ host: `http://127.0.0.1:${port}`, retry: { retries: 0 } }), 'acks', 'erasure-ack');
    const error = await codec.register().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ServiceUnavailableError);
    expect((error as ServiceUnavailableError).service).toBe('schema-registry');
    expect((error as ServiceUnavailableError).code).toBe('SCHEMA_REGISTRATION_FAILED');
    expect((error as Error).message).toContain('subject acks-value');
  });
});
