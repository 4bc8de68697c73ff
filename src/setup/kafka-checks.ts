import type { Catalog } from '../catalog/catalog.js';
import type { Finding } from '../cdc/source-checks.js';
import { createKafka } from '../kafka/kafka-client.js';
import { describeTopicConfig } from '../kafka/topic-config.js';
import { createLogger } from '../logger.js';
import { checkErasureLog } from './init-plan.js';

/** Doctor's Kafka side: the erasure log's retention against the catalog's backups; Kafka unreachable is a problem. */
export async function checkKafka(catalog: Catalog): Promise<Finding> {
  const admin = createKafka({ brokers: catalog.kafka.brokers, clientId: 'lethe-doctor', logger: createLogger({ level: 'error' }), retry: { retries: 1 } }).admin();
  try {
    await admin.connect();
    const config = await describeTopicConfig(admin, catalog.kafka.topics.erasures, ['retention.ms']);
    return checkErasureLog(catalog, config === null ? null : Number(config['retention.ms'] ?? -1));
  } catch (error) {
    return { level: 'problem', subject: `kafka ${catalog.kafka.brokers.join(',')}`, message: `unreachable: ${(error as Error).message}` };
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
