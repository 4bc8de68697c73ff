import { describe, expect, it } from 'vitest';
import { ElasticsearchConnector } from '../../../connectors/elasticsearch-connector.js';
import { esCatalog, seed } from '../../support/es-fixture.js';
import { indexPrefix, indicesOf } from '../../support/es-indices.js';
import { userErased } from '../../support/sink-fixture.js';

const KEYWORDS = { properties: { user_id: { type: 'keyword' as const }, name: { type: 'keyword' as const } } };

/**
 * From the second batch on, targets over indices no other target names are erased at once;
 * targets sharing documents still go one after the other. Either way each batch's counts are
 * those of a target-by-target erasure.
 */
describe('Elasticsearch: a batch erasing several targets', () => {
  it('erases targets over other indices at once and targets over the same documents in turn, with the same counts', async () => {
    const p = indexPrefix('lesw');
    await using scratch = indicesOf(p);
    const { es } = scratch;
    for (const index of [`${p}-users`, `${p}-orders`, `${p}-shared`]) await es.indices.create({ index, settings: { number_of_replicas: 0 }, mappings: KEYWORDS });
    const catalog = esCatalog(`    user:
      - { index: ${p}-users, match: user_id, action: delete }
      - { index: ${p}-orders, match: user_id, action: { anonymize: [name] } }
      - { index: ${p}-shared, match: user_id, action: delete }
      - { index: ${p}-shared, match: user_id, action: { anonymize: [name] } }
`);
    const connector = new ElasticsearchConnector(catalog.sinks.elasticsearch!);
    try {
      for (const round of [1, 2, 3]) {
        const [a, b, neighbour] = [`a${round}`, `b${round}`, `n${round}`];
        for (const index of [`${p}-users`, `${p}-orders`, `${p}-shared`]) {
          await seed(es, index, [{ user_id: a, name: 'A' }, { user_id: a, name: 'A2' }, { user_id: b, name: 'B' }, { user_id: neighbour, name: 'N' }]);
        }
        const results = await connector.apply([userErased(a), userErased(b)]);
        const shape = (affected: number) => [
          { target: `index ${p}-users`, affected, residual: 0 },
          { target: `index ${p}-orders`, affected, residual: 0 },
          // The shared index's documents are deleted by the first of its targets: nothing is left to anonymize.
          { target: `index ${p}-shared`, affected, residual: 0 },
          { target: `index ${p}-shared`, affected: 0, residual: 0 },
        ];
        expect(results).toEqual([shape(2), shape(1)]);
        for (const index of [`${p}-users`, `${p}-shared`]) {
          const left = await es.search<{ user_id: string }>({ index, size: 100 });
          expect(left.hits.hits.map((h) => h._source!.user_id).filter((u) => u.endsWith(String(round)))).toEqual([neighbour]);
        }
        const orders = await es.search<{ user_id: string; name: string | null }>({ index: `${p}-orders`, size: 100, query: { terms: { user_id: [a, b, neighbour] } } });
        expect(orders.hits.hits.map((h) => [h._source!.user_id, h._source!.name]).sort()).toEqual([[a, null], [a, null], [b, null], [neighbour, 'N']]);
      }
    } finally {
      await connector.close();
    }
  });
});
