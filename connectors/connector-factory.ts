import type { Catalog } from '../src/catalog/catalog.js';
import type { SinkName } from '../src/catalog/sinks.js';
import { UsageError } from '../src/errors.js';
import { ElasticsearchConnector } from './elasticsearch-connector.js';
import { RedisConnector } from './redis-connector.js';
import type { SinkConnector } from './sink-connector.js';

/** The connector for a configured sink; the one place that knows every connector. */
export function createConnector(sink: SinkName, catalog: Catalog): SinkConnector {
  const sinks = catalog.sinks;
  switch (sink) {
    case 'redis':
      if (sinks.redis) return new RedisConnector(sinks.redis);
      break;
    case 'elasticsearch':
      if (sinks.elasticsearch) return new ElasticsearchConnector(sinks.elasticsearch);
      break;
    default:
      throw new UsageError(`sink ${sink} has no connector yet`);
  }
  throw new UsageError(`sink ${sink} is not configured in the catalog's sinks section`);
}
