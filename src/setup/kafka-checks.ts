import type { Catalog } from '../catalog/catalog.js';
import type { Finding } from '../cdc/source-checks.js';
import { createKafka } from '../kafka/kafka-client.js';
import { describeTopicConfig, replicationOf } from '../kafka/topic-config.js';
import { topologyOf } from '../kafka/topology.js';
import { createLogger } from '../logger.js';
import { checkErasureLog } from './init-plan.js';

/**
 * Doctor's Kafka side: the erasure log's retention against the catalog's backups, whether one
 * broker's loss could lose an erasure, and the consumer groups this deployment joins. Kafka
 * unreachable is a problem.
 */
export async function checkKafka(catalog: Catalog): Promise<Finding[]> {
  const admin = createKafka({ brokers: catalog.kafka.brokers, clientId: 'lethe-doctor', logger: createLogger({ level: 'error' }), retry: { retries: 1 } }).admin();
  const topology = topologyOf(catalog);
  try {
    await admin.connect();
    const config = await describeTopicConfig(admin, topology.erasures, ['retention.ms', 'min.insync.replicas', 'max.message.bytes']);
    const findings = [checkErasureLog(catalog, config === null ? null : Number(config['retention.ms'] ?? -1))];
    if (config !== null) {
      findings.push(checkDurability(topology.erasures, (await replicationOf(admin, topology.erasures)) ?? 0, Number(config['min.insync.replicas'] ?? 1)));
      if (config['max.message.bytes'] !== undefined) findings.push(checkMessageSize(topology.erasures, Number(config['max.message.bytes']), catalog.kafka.maxMessageBytes));
    }
    findings.push(groupsFinding(catalog));
    return findings;
  } catch (error) {
    return [{ level: 'problem', subject: `kafka ${catalog.kafka.brokers.join(',')}`, message: `unreachable: ${(error as Error).message}` }];
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * With acks=all, an erasure Kafka acknowledged survives one broker's loss only when the topic has
 * a second replica and a write needs two in sync: with one replica, or min.insync.replicas=1 (the
 * leader alone may acknowledge), that broker's disk is the only copy for a while. Pure.
 */
export function checkDurability(topic: string, replicas: number, minInsync: number): Finding {
  const subject = `topic ${topic}`;
  if (replicas >= 1 && minInsync > replicas) {
    return {
      level: 'problem',
      subject,
      message: `min.insync.replicas ${minInsync} is more than its ${replicas} replica(s): no acks=all write can succeed, every erasure waits`,
      fix: `kafka-configs.sh --alter --entity-type topics --entity-name ${topic} --add-config min.insync.replicas=${replicas}, or add replicas`,
    };
  }
  if (replicas >= 2 && minInsync >= 2) return { level: 'ok', subject, message: `replication factor ${replicas}, min.insync.replicas ${minInsync}: survives one broker's loss` };
  const why = replicas < 2 ? `replication factor ${replicas}` : `min.insync.replicas ${minInsync}`;
  return {
    level: 'warn',
    subject,
    message: `${why}: the loss of one broker could lose an erasure Kafka had acknowledged (fine for a single-broker development stack)`,
    fix: 'kafka.replication: { factor: 3, minInsyncReplicas: 2 } in the catalog for new topics; for this one, kafka-reassign-partitions.sh and kafka-configs.sh --add-config min.insync.replicas=2',
  };
}

/**
 * The reader splits an erasure into parts of at most kafka.maxMessageBytes; a topic that accepts
 * less refuses such a part, the reader restarts from the slot and meets the same transaction
 * again, and every later erasure waits behind it. Pure.
 */
export function checkMessageSize(topic: string, topicMax: number, catalogMax: number): Finding {
  const subject = `topic ${topic}`;
  if (topicMax >= catalogMax) return { level: 'ok', subject, message: `max.message.bytes ${topicMax} fits kafka.maxMessageBytes ${catalogMax}` };
  return {
    level: 'problem',
    subject,
    message: `max.message.bytes ${topicMax} is below kafka.maxMessageBytes ${catalogMax}: an erasure part of that size would be refused and the reader would stop at it`,
    fix: `set kafka.maxMessageBytes: ${topicMax} in the catalog, or kafka-configs.sh --alter --entity-type topics --entity-name ${topic} --add-config max.message.bytes=${catalogMax}`,
  };
}

/** The groups `lethe run` joins: under the deployment's namespace, so another catalog on the cluster never shares them. */
export function groupsFinding(catalog: Catalog): Finding {
  const topology = topologyOf(catalog);
  const from = catalog.kafka.groupPrefix ? 'kafka.groupPrefix' : 'the erasures topic';
  return {
    level: 'ok',
    subject: 'consumer groups',
    message: `namespace ${topology.namespace} (from ${from}): ${topology.groups().map((g) => `${g.group} (${g.service})`).join(', ')}`,
  };
}
