import type { Catalog } from '../src/catalog/catalog.js';
import type { SinkName } from '../src/catalog/sinks.js';
import { UsageError } from '../src/errors.js';
import { createKafka } from '../src/kafka/kafka-client.js';
import type { Logger } from '../src/logger.js';
import { BigQueryConnector } from './bigquery-connector.js';
import { CompactedTopicConnector } from './compacted-topic-connector.js';
import { ElasticsearchConnector } from './elasticsearch-connector.js';
import { RedisConnector } from './redis-connector.js';
import type { SinkConnector } from './sink-connector.js';

/** The connector for a configured sink; the one place that knows every connector. */
export function createConnector(sink: SinkName, catalog: Catalog, logger: Logger): SinkConnector {
  const sinks = catalog.sinks;
  switch (sink) {
    case 'redis':
      if (sinks.redis) return new RedisConnector(sinks.redis);
      break;
    case 'elasticsearch':
      if (sinks.elasticsearch) return new ElasticsearchConnector(sinks.elasticsearch);
      break;
    case 'compacted':
      if (sinks.compacted) {
        const kafka = createKafka({ brokers: catalog.kafka.brokers, clientId: 'lethe-sink-compacted', logger });
        return new CompactedTopicConnector(sinks.compacted, kafka, catalog.kafka.maxMessageBytes, catalog.kafka.schemaRegistry);
      }
      break;
    case 'bigquery':
      if (sinks.bigquery) return new BigQueryConnector(sinks.bigquery);
      break;
    default:
      throw new UsageError(`sink ${sink} has no connector yet`);
  }
  throw new UsageError(`sink ${sink} is not configured in the catalog's sinks section`);
}
