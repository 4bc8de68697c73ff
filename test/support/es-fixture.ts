import type { Client } from '@elastic/elasticsearch';
import { expect } from 'vitest';
import { parseCatalog, type Catalog } from '../../src/catalog/catalog.js';
import { endpoints } from './endpoints.js';

/** A catalog with the sink fixture's subject types and the given Elasticsearch targets (nothing here touches Kafka). */
export function esCatalog(targetsYaml: string): Catalog {
  return parseCatalog(
    `
source: { url: "postgres://unused" }
kafka: { brokers: "127.0.0.1:1", schemaRegistry: "http://127.0.0.1:1", topics: { erasures: lethe.test.unused } }
subjects:
  user: { table: public.users, key: id }
  account: { table: crm."Accounts", key: [tenant, '"AccountId"'] }
sinks:
  elasticsearch:
    node: ${endpoints().elasticsearchUrl}
${targetsYaml}`,
    {},
  );
}

/**
 * Documents indexed as given (raw JSON lines, so a number beyond 2^53 reaches the store as
 * written), each with its own id and routing when given as `{ id, routing, doc }`.
 */
export async function seed(es: Client, index: string, docs: Array<Record<string, unknown> | string | { id?: string; routing?: string; doc: Record<string, unknown> }>): Promise<void> {
  const lines = docs.map((d) => {
    const meta = typeof d === 'object' && 'doc' in d ? { _index: index, ...(d.id ? { _id: d.id } : {}), ...(d.routing ? { routing: d.routing } : {}) } : { _index: index };
    const doc = typeof d === 'string' ? d : JSON.stringify('doc' in d ? d.doc : d);
    return `${JSON.stringify({ index: meta })}\n${doc}\n`;
  });
  const response = (await es.transport.request({ method: 'POST', path: '/_bulk', querystring: { refresh: 'true' }, body: lines.join('') }, { headers: { 'content-type': 'application/x-ndjson' } })) as { errors: boolean };
  expect(response.errors).toBe(false);
}

/** How many documents an index holds (closed indices excluded: they cannot be counted). */
export async function countOf(es: Client, index: string): Promise<number> {
  return (await es.count({ index })).count;
}
