import { describe, expect, it } from 'vitest';
import { parseCatalog } from '../../../src/catalog/catalog.js';
import { checkDurability, groupsFinding } from '../../../src/setup/kafka-checks.js';

describe('checkDurability', () => {
  it('is ok with a second replica and two in sync: one broker lost loses nothing', () => {
    expect(checkDurability('e', 3, 2)).toMatchObject({ level: 'ok', subject: 'topic e', message: expect.stringContaining('replication factor 3, min.insync.replicas 2') });
    expect(checkDurability('e', 2, 2).level).toBe('ok');
  });

  it('warns on a single replica, naming the factor, with a fix', () => {
    const finding = checkDurability('lethe.subject-erased', 1, 1);
    expect(finding.level).toBe('warn');
    expect(finding.subject).toBe('topic lethe.subject-erased');
    expect(finding.message).toMatch(/^replication factor 1: the loss of one broker could lose an erasure/);
    expect(finding.fix).toContain('minInsyncReplicas: 2');
  });

  it('warns on replicas with min.insync.replicas 1 (the leader alone may acknowledge), naming that', () => {
    const finding = checkDurability('e', 3, 1);
    expect(finding.level).toBe('warn');
    expect(finding.message).toMatch(/^min\.insync\.replicas 1:/);
  });

  it('is a problem when min.insync.replicas exceeds the replicas: no acks=all write can succeed', () => {
    for (const [replicas, minInsync] of [
      [1, 2],
      [2, 3],
    ] as const) {
      const finding = checkDurability('e', replicas, minInsync);
      expect(finding.level, `${replicas}/${minInsync}`).toBe('problem');
      expect(finding.message).toContain(`min.insync.replicas ${minInsync}`);
    }
  });
});

describe('groupsFinding', () => {
  const base = `source: { url: x }
subjects:
  user: { table: users, key: id }
sinks:
  redis: { url: "redis://x", user: { keys: ["user:{subject}"] } }
`;

  it('names the namespace, where it comes from, and every group with its service', () => {
    const finding = groupsFinding(parseCatalog(`kafka: { brokers: b:1, schemaRegistry: "http://r", topics: { erasures: shop.e } }\n${base}`, {}));
    expect(finding.level).toBe('ok');
    expect(finding.subject).toBe('consumer groups');
    expect(finding.message).toBe('namespace shop.e (from the erasures topic): shop.e.sink.redis (sink:redis), shop.e.tracker (tracker)');
  });

  it('says the namespace comes from kafka.groupPrefix when set', () => {
    const finding = groupsFinding(parseCatalog(`kafka: { brokers: b:1, schemaRegistry: "http://r", groupPrefix: prod }\n${base}`, {}));
    expect(finding.message).toBe('namespace prod (from kafka.groupPrefix): prod.sink.redis (sink:redis), prod.tracker (tracker)');
  });
});
