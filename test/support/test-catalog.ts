import { parseCatalog, type Catalog } from '../../src/catalog/catalog.js';

/**
 * A catalog for tests of what `body` says (its subjects, sinks, pseudonymization): the source and
 * Kafka it must name are placeholders, never connected to.
 *
 *   const { subjects } = testCatalog(`
 *   subjects:
 *     user: { table: shop.users, key: id }
 *   `);
 */
export function testCatalog(body: string): Catalog {
  return parseCatalog(`source: { url: x }\nkafka: { brokers: k:1, schemaRegistry: "http://r" }\n${body}`, {});
}
