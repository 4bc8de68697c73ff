import { Client } from '@elastic/elasticsearch';
import { describe, expect, it } from 'vitest';
import { endpoints } from '../../support/endpoints.js';
import { uniqueName } from '../../support/names.js';

// Proves the stack's Elasticsearch is a real 8.x node that the official client accepts
// unmodified (product header, compatible-with=8), with every core API the Elasticsearch sink
// uses: bulk, term search, point in time + search_after, bulk delete by id, refresh, count,
// wildcard index patterns and aliases.
describe('Elasticsearch 8', () => {
  it('indexes, finds a subject by term, pages with PIT + search_after, bulk-deletes and counts zero', async () => {
    const client = new Client({ node: endpoints().elasticsearchUrl });
    const prefix = uniqueName('lethe-test');
    const indices = [`${prefix}-a`, `${prefix}-b`];
    const alias = `${prefix}-alias`;
    await using _ = {
      [Symbol.asyncDispose]: async () => {
        await client.indices.delete({ index: indices, ignore_unavailable: true });
        await client.close();
      },
    };

    const info = await client.info();
    expect(info.version.number).toMatch(/^8\./);
    expect(await client.ping()).toBe(true);
    const raw = await client.cluster.health({}, { meta: true });
    expect(raw.headers['x-elastic-product']).toBe('Elasticsearch');

    for (const index of indices) {
      await client.indices.create({
        index,
        settings: { number_of_replicas: 0, number_of_shards: 2 },
        mappings: { properties: { user_id: { type: 'keyword' }, body: { type: 'text' } } },
      });
    }
    await client.indices.putAlias({ index: indices, name: alias });

    // 600 documents of the subject spread over two indices, 400 of neighbours.
    const docs = Array.from({ length: 1000 }, (_, i) => ({
      index: indices[i % 2]!,
      id: `doc-${i}`,
      user_id: i < 600 ? 'subject-1' : `neighbour-${i % 7}`,
    }));
    const bulk = await client.bulk({
      refresh: true,
      operations: docs.flatMap((d) => [{ index: { _index: d.index, _id: d.id } }, { user_id: d.user_id, body: 'text' }]),
    });
    expect(bulk.errors).toBe(false);

    const byTerm = await client.search({ index: alias, query: { term: { user_id: 'subject-1' } }, size: 0, track_total_hits: true });
    expect(byTerm.hits.total).toEqual({ value: 600, relation: 'eq' });

    // Page through every match with a point in time and search_after, 250 at a time.
    const pit = await client.openPointInTime({ index: `${prefix}-*`, keep_alive: '1m' });
    const found: Array<{ index: string; id: string }> = [];
    let searchAfter: Array<string | number> | undefined;
    for (;;) {
      const page = await client.search({
        pit: { id: pit.id, keep_alive: '1m' },
        query: { term: { user_id: 'subject-1' } },
        size: 250,
        sort: [{ _shard_doc: 'asc' }],
        ...(searchAfter ? { search_after: searchAfter } : {}),
        _source: false,
      });
      if (page.hits.hits.length === 0) break;
      for (const hit of page.hits.hits) found.push({ index: hit._index, id: hit._id! });
      searchAfter = page.hits.hits.at(-1)!.sort as Array<string | number>;
    }
    await client.closePointInTime({ id: pit.id });
    expect(found).toHaveLength(600);
    expect(new Set(found.map((f) => f.index))).toEqual(new Set(indices));

    const deleted = await client.bulk({ operations: found.map((f) => ({ delete: { _index: f.index, _id: f.id } })) });
    expect(deleted.errors).toBe(false);
    await client.indices.refresh({ index: indices });

    expect((await client.count({ index: alias, query: { term: { user_id: 'subject-1' } } })).count).toBe(0);
    expect((await client.count({ index: alias })).count).toBe(400);
  });
});
