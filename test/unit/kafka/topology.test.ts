import { describe, expect, it } from 'vitest';
import { parseCatalog } from '../../../src/catalog/catalog.js';
import { ERASURE_TOPIC_PARTITIONS, REPLAY_MARGIN_MS, topologyOf, type Topology } from '../../../src/kafka/topology.js';

/** A catalog with the redis and elasticsearch sinks; `kafka` is spliced into its kafka section. */
function catalog(kafka = '', extra = '') {
  return parseCatalog(
    `source: { url: x }
kafka: { brokers: b:1, schemaRegistry: "http://r"${kafka ? `, ${kafka}` : ''} }
subjects:
  user: { table: users, key: id }
sinks:
  redis: { url: "redis://x", user: { keys: ["user:{subject}"] } }
  elasticsearch: { node: "http://es", user: [{ index: u, match: user_id, action: delete }] }
${extra}`,
    {},
  );
}

const topicsOf = (t: Topology) => t.specs().map((s) => s.topic);
const groupsOf = (t: Topology) => t.groups().map((g) => g.group);

describe('topologyOf', () => {
  it('namespaces groups and its own topics under the erasures topic by default', () => {
    const t = topologyOf(catalog('topics: { erasures: shop.erasures, acks: shop.acks, status: shop.status }'));
    expect(t.namespace).toBe('shop.erasures');
    expect(t.sinkGroup('redis')).toBe('shop.erasures.sink.redis');
    expect(t.trackerGroup).toBe('shop.erasures.tracker');
    expect(t.retry('redis')).toBe('shop.erasures.retry.redis');
    expect(t.dlq('redis')).toBe('shop.erasures.dlq.redis');
    expect(t.health).toBe('shop.erasures.sink-health');
    expect([t.erasures, t.acks, t.status]).toEqual(['shop.erasures', 'shop.acks', 'shop.status']);
    // Never the un-namespaced names every deployment used to share.
    expect(groupsOf(t)).not.toContain('lethe.sink.redis');
    expect(groupsOf(t)).not.toContain('lethe.tracker');
  });

  it('uses kafka.groupPrefix when set', () => {
    const t = topologyOf(catalog('groupPrefix: staging'));
    expect(t.namespace).toBe('staging');
    expect(t.sinkGroup('elasticsearch')).toBe('staging.sink.elasticsearch');
    expect(t.dlq('elasticsearch')).toBe('staging.dlq.elasticsearch');
    expect(t.groups()).toEqual([
      { service: 'sink:redis', group: 'staging.sink.redis' },
      { service: 'sink:elasticsearch', group: 'staging.sink.elasticsearch' },
      { service: 'tracker', group: 'staging.tracker' },
    ]);
  });

  it('two catalogs with different erasures topics share no group and no topic of their own', () => {
    const a = topologyOf(catalog('topics: { erasures: app-a.erasures }'));
    const b = topologyOf(catalog('topics: { erasures: app-b.erasures }'));
    expect(groupsOf(a).filter((g) => groupsOf(b).includes(g))).toEqual([]);
    const own = (t: Topology) => [t.health, ...['redis', 'elasticsearch'].flatMap((s) => [t.dlq(s), t.retry(s)])];
    expect(own(a).filter((topic) => own(b).includes(topic))).toEqual([]);
    expect(a.replayGroup('primary', new Date(0))).not.toBe(b.replayGroup('primary', new Date(0)));
  });

  it('creates the retry topic with the same partitions as the erasures topic, wherever it is asked for', () => {
    const t = topologyOf(catalog());
    const retry = t.spec(t.retry('redis'))!;
    expect(retry.partitions).toBe(ERASURE_TOPIC_PARTITIONS);
    expect(t.spec(t.erasures)!.partitions).toBe(ERASURE_TOPIC_PARTITIONS);
    expect(t.sinkSpecs('redis').find((s) => s.topic === t.retry('redis'))).toEqual(retry);
    expect(t.spec(t.dlq('redis'))!.partitions).toBe(1);
    expect(t.spec(t.health)!.partitions).toBe(1);
  });

  it('passes the replication factor to every topic and min.insync.replicas to the ones an erasure lives in', () => {
    const t = topologyOf(catalog('replication: { factor: 3, minInsyncReplicas: 2 }'));
    expect(new Set(t.specs().map((s) => s.replicationFactor))).toEqual(new Set([3]));
    for (const topic of [t.erasures, t.acks, t.dlq('redis'), t.retry('redis'), t.dlq('elasticsearch'), t.retry('elasticsearch')]) {
      expect(t.spec(topic)!.configs['min.insync.replicas'], topic).toBe('2');
    }
    expect(t.spec(t.status)!.configs['cleanup.policy']).toBe('compact');
    expect(t.spec(t.health)!.configs['cleanup.policy']).toBe('compact');
  });

  it("defaults to the broker's replication factor and min.insync.replicas 1", () => {
    const t = topologyOf(catalog());
    expect(t.spec(t.erasures)).toMatchObject({ replicationFactor: -1, configs: { 'min.insync.replicas': '1' } });
  });

  it('lists a topic per configured sink and none for a sink not configured', () => {
    const t = topologyOf(catalog());
    expect(topicsOf(t)).toContain(t.retry('elasticsearch'));
    expect(topicsOf(t)).not.toContain(t.retry('bigquery'));
    expect(t.spec('no-such-topic')).toBeUndefined();
    expect(new Set(topicsOf(t)).size).toBe(topicsOf(t).length);
  });

  it("gives a replay's primary sink a dead-letter and retry topic of its own", () => {
    const t = topologyOf(catalog());
    expect(t.sinkSpecs('primary').map((s) => [s.topic, s.partitions])).toEqual([
      [t.dlq('primary'), 1],
      [t.retry('primary'), ERASURE_TOPIC_PARTITIONS],
    ]);
  });

  it('names a new replay group per time, safe for a group id', () => {
    const t = topologyOf(catalog());
    const first = t.replayGroup('redis', new Date('2026-01-02T03:04:05.678Z'));
    expect(first).toBe('lethe.subject-erased.replay.redis.2026-01-02T03-04-05-678Z');
    expect(t.replayGroup('redis', new Date('2026-01-02T03:04:05.679Z'))).not.toBe(first);
  });

  it('keeps the erasure log for longer than the longest backup, and forever with no backups', () => {
    expect(topologyOf(catalog()).spec('lethe.subject-erased')!.configs['retention.ms']).toBe('-1');
    const withBackups = topologyOf(catalog('', 'backups:\n  - { name: a, retention: 30d }\n  - { name: b, retention: 7d }\n'));
    expect(withBackups.spec('lethe.subject-erased')!.configs['retention.ms']).toBe(String(30 * 86_400_000 + REPLAY_MARGIN_MS));
  });
});
