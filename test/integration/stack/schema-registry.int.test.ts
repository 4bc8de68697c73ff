import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { describe, expect, it } from 'vitest';
import { endpoints } from '../../support/endpoints.js';
import { uniqueName } from '../../support/names.js';

// Proves the stack's registry speaks the Confluent REST API as @kafkajs/confluent-schema-registry
// uses it: registration, Avro encode/decode by schema id, and backward-compatibility checks.
describe('schema registry (Confluent API)', () => {
  const recordName = 'Probe';
  const v1 = {
    type: 'record',
    name: recordName,
    namespace: 'dev.lethe.test',
    fields: [
      { name: 'id', type: 'string' },
      { name: 'count', type: 'long' },
    ],
  };

  it('registers, encodes and decodes, and rejects an incompatible change', async () => {
    const registry = new SchemaRegistry({ host: endpoints().schemaRegistryUrl });
    const subject = `${uniqueName('lethe-test')}-value`;

    const { id } = await registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(v1) },
      { subject, compatibility: COMPATIBILITY.BACKWARD },
    );
    expect(id).toBeGreaterThan(0);

    const encoded = await registry.encode(id, { id: 'subject-1', count: 3 });
    expect(encoded[0]).toBe(0); // Confluent wire format: magic byte, then the 4-byte schema id
    expect(encoded.readInt32BE(1)).toBe(id);
    expect(await registry.decode(encoded)).toEqual({ id: 'subject-1', count: 3 });

    // Adding a required field without a default breaks BACKWARD compatibility.
    const incompatible = { ...v1, fields: [...v1.fields, { name: 'email', type: 'string' }] };
    await expect(
      registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(incompatible) }, { subject }),
    ).rejects.toThrow(/compatib/i);

    // A new optional field with a default is a compatible evolution.
    const compatible = {
      ...v1,
      fields: [...v1.fields, { name: 'note', type: ['null', 'string'], default: null }],
    };
    const { id: id2 } = await registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(compatible) },
      { subject },
    );
    expect(id2).not.toBe(id);
    expect(await registry.decode(encoded)).toEqual({ id: 'subject-1', count: 3 });
  });
});
