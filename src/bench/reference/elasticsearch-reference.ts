import type { Client } from '@elastic/elasticsearch';
import { inChunks, type ReferenceResult } from './in-chunks.js';

/**
 * The Elasticsearch sink's work written by hand, for the bench to compare the sink with: per
 * chunk of subjects, one terms search on the keyword field (the field's `_source` value compared
 * exactly with the subject's key, as the sink compares it), one `_bulk` delete of the documents
 * found (with their routing), one refresh, one count of what the terms query still finds.
 * `concurrency` chunks at a time, as the sink's partitions.
 */
export async function elasticsearchReference(es: Client, index: string, field: string, ids: readonly string[], chunk: number, concurrency: number): Promise<ReferenceResult> {
  return inChunks(ids, chunk, concurrency, async (slice) => {
    const wanted = new Set(slice);
    const query = { bool: { filter: [{ terms: { [field]: slice } }] } };
    const found = await es.search<Record<string, unknown>>({ index, query, _source: [field], size: 10_000, track_total_hits: false });
    const exact = found.hits.hits.filter((h) => wanted.has(String(h._source?.[field])));
    if (exact.length > 0) {
      const response = await es.bulk({ operations: exact.map((h) => ({ delete: { _index: h._index, _id: h._id!, ...(h._routing ? { routing: h._routing } : {}) } })) });
      if (response.errors) throw new Error(`elasticsearch reference: a bulk delete in ${index} failed`);
      await es.indices.refresh({ index });
    }
    return { affected: exact.length, residual: (await es.count({ index, query })).count };
  });
}
