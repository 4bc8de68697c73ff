import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { describe, expect, it } from 'vitest';
import { deleteValueSubject, EventCodec, readSchema, valueSubject } from '../../../src/events/event-codec.js';
import { endpoints } from '../../support/endpoints.js';
import { uniqueName } from '../../support/names.js';

/** The schema as it was before holds: without the HELD symbol and, for acks, without requestId. */
function beforeHolds(name: 'erasure-ack' | 'erasure-status'): string {
  const schema = JSON.parse(readSchema(name)) as { fields: Array<{ name: string; type: unknown }> };
  schema.fields = schema.fields.filter((f) => f.name !== 'requestId');
  for (const f of schema.fields) {
    const t = f.type as { type?: string; symbols?: string[]; doc?: string };
    if (t.type === 'enum') {
      t.symbols = t.symbols!.filter((s) => s !== 'HELD');
      delete t.doc;
    }
  }
  return JSON.stringify(schema);
}

describe('the ack and status schemas with holds', () => {
  it('register as a new version the registry accepts as BACKWARD compatible with the one before', async () => {
    const registry = new SchemaRegistry({ host: endpoints().schemaRegistryUrl });
    for (const name of ['erasure-ack', 'erasure-status'] as const) {
      const topic = uniqueName(`compat_${name.replace('-', '_')}`);
      try {
        const base = endpoints().schemaRegistryUrl;
        const subject = encodeURIComponent(valueSubject(topic));
        const url = `${base}/subjects/${subject}`;
        const json = { 'content-type': 'application/vnd.schemaregistry.v1+json' };
        // The subject as an earlier Lethe left it: BACKWARD, with the schema from before holds.
        const config = await fetch(`${base}/config/${subject}`, { method: 'PUT', headers: json, body: JSON.stringify({ compatibility: 'BACKWARD' }) });
        expect(config.status, await config.clone().text()).toBe(200);
        const old = await fetch(`${url}/versions`, { method: 'POST', headers: json, body: JSON.stringify({ schema: beforeHolds(name) }) });
        expect(old.status, await old.clone().text()).toBe(200);
        const check = await fetch(`${base}/compatibility/subjects/${subject}/versions/latest`, { method: 'POST', headers: json, body: JSON.stringify({ schema: readSchema(name) }) });
        expect(await check.json()).toMatchObject({ is_compatible: true });
        // The codec registers the current schema as Lethe does (with BACKWARD compatibility).
        const id = await new EventCodec(registry, topic, name).register();
        const versions = (await (await fetch(`${url}/versions`)).json()) as number[];
        expect(versions).toHaveLength(2);
        expect((await registry.getLatestSchemaId(valueSubject(topic)))).toBe(id);
      } finally {
        await deleteValueSubject(endpoints().schemaRegistryUrl, topic);
      }
    }
  });

  it('reads an ack written before holds with the new schema: no request id', async () => {
    const registry = new SchemaRegistry({ host: endpoints().schemaRegistryUrl });
    const topic = uniqueName('compat_read');
    try {
      const { id } = await registry.register({ type: 'AVRO' as never, schema: beforeHolds('erasure-ack') }, { subject: valueSubject(topic) });
      const bytes = await registry.encode(id, { eventId: 'e', subjectType: 'user', subjectId: '42', sink: 'redis', target: 't', outcome: 'APPLIED', affected: 1, residual: 0, attempt: 1, replay: false, error: null, details: {}, at: 1, part: 1, parts: 1 });
      const decoded = (await registry.decode(bytes)) as { requestId?: string | null; outcome: string };
      expect(decoded.outcome).toBe('APPLIED');
      expect(decoded.requestId ?? null).toBeNull();
    } finally {
      await deleteValueSubject(endpoints().schemaRegistryUrl, topic);
    }
  });
});
