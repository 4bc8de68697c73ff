import type { Kafka } from 'kafkajs';
import { SINK_NAMES } from '../catalog/sinks.js';
import { readTopic } from '../kafka/topic-reader.js';

/**
 * The sinks' dead-letter topics (named by the run's catalog's topology), as far as this run is concerned: their end offsets before
 * `lethe run` starts, and afterwards what arrived since, counted per sink with the reasons (the
 * dead-letter headers carry a reason, never the record's personal data).
 */
export type DeadLetterOffsets = Map<string, Map<number, bigint>>;

export async function deadLetterOffsets(kafka: Kafka, dlqTopicOf: (sink: string) => string): Promise<DeadLetterOffsets> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const out: DeadLetterOffsets = new Map();
    for (const topic of SINK_NAMES.map(dlqTopicOf).filter((t) => existing.has(t))) {
      out.set(topic, new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, BigInt(o.high)])));
    }
    return out;
  } finally {
    await admin.disconnect();
  }
}

/** `redis: 3 (2× connect ECONNREFUSED …; 1× …)` per sink with dead letters since `start`. */
export async function deadLettersSince(kafka: Kafka, dlqTopicOf: (sink: string) => string, start: DeadLetterOffsets): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  let existing: Set<string>;
  try {
    existing = new Set(await admin.listTopics());
  } finally {
    await admin.disconnect();
  }
  const lines: string[] = [];
  for (const sink of SINK_NAMES) {
    const topic = dlqTopicOf(sink);
    if (!existing.has(topic)) continue;
    const reasons = new Map<string, number>();
    await readTopic(kafka, topic, async (m, partition) => {
      if (BigInt(m.offset) < (start.get(topic)?.get(partition) ?? 0n)) return;
      const reason = (m.headers?.['lethe-dlq-reason']?.toString() ?? 'no reason header').slice(0, 120);
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    });
    const total = [...reasons.values()].reduce((a, b) => a + b, 0);
    if (total > 0) lines.push(`${sink}: ${total} (${[...reasons].map(([r, n]) => `${n}× ${r}`).join('; ')})`);
  }
  return lines;
}
