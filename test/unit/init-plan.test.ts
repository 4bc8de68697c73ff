import { describe, expect, it } from 'vitest';
import { parseCatalog } from '../../src/catalog/catalog.js';
import { checkErasureLog, erasureLogRetentionMs, planInit, REPLAY_MARGIN_MS, topicSpecs } from '../../src/setup/init-plan.js';

const DAY = 86_400_000;
const catalogWith = (backups: string) =>
  parseCatalog(
    `source: { url: x }\nkafka: { brokers: b:1, schemaRegistry: "http://r", topics: { erasures: "Erase.Log" } }\nsubjects: { member: { table: m, key: id } }\n${backups}`,
    {},
  );

describe('the erasure log outlives the backups', () => {
  it('is kept forever without backups, and the longest backup plus a replay margin with them', () => {
    expect(erasureLogRetentionMs(catalogWith(''))).toBe(-1);
    const catalog = catalogWith('backups: [{ name: a, retention: 30d }, { name: b, retention: 13w }]\n');
    expect(erasureLogRetentionMs(catalog)).toBe(91 * DAY + REPLAY_MARGIN_MS);
    expect(topicSpecs(catalog).find((t) => t.topic === 'Erase.Log')!.configs['retention.ms']).toBe(String(91 * DAY + REPLAY_MARGIN_MS));
    expect(topicSpecs(catalog).find((t) => t.topic === 'Erase.Log.status')!.configs['cleanup.policy']).toBe('compact');
  });

  it('doctor warns when the log expires before a backup does, naming both', () => {
    const catalog = catalogWith('backups: [{ name: pg-weekly, retention: 8w }, { name: es-daily, retention: 7d }]\n');
    expect(checkErasureLog(catalog, 14 * DAY)).toEqual({
      level: 'warn',
      subject: 'topic Erase.Log',
      message: "retention 2w is shorter than backup pg-weekly's 8w: erasures older than 2w could not be replayed after restoring it",
      fix: `kafka-configs.sh --alter --entity-type topics --entity-name Erase.Log --add-config retention.ms=${56 * DAY + REPLAY_MARGIN_MS}`,
      initFixes: true,
    });
    expect(checkErasureLog(catalog, 60 * DAY).level).toBe('ok');
    expect(checkErasureLog(catalog, -1).level).toBe('ok');
    expect(checkErasureLog(catalog, null)).toMatchObject({ level: 'problem', message: 'does not exist' });
  });

  it('init raises a too-short retention of an existing log, creates the tracker tables and the status schema', () => {
    const catalog = catalogWith('backups: [{ name: pg-weekly, retention: 8w }]\n');
    const existing = new Set(topicSpecs(catalog).map((t) => t.topic));
    const steps = planInit(catalog, [], existing, 7 * DAY);
    expect(steps.filter((s) => s.kind === 'topic')).toEqual([]);
    expect(steps.find((s) => s.kind === 'topic-config')).toMatchObject({ topic: 'Erase.Log', configs: { 'retention.ms': String(56 * DAY + REPLAY_MARGIN_MS) } });
    expect(steps.find((s) => s.kind === 'tracker-sql')!.description).toMatch(/schema lethe/);
    expect(steps.filter((s) => s.kind === 'schema').map((s) => (s as { schema: string }).schema)).toEqual(['subject-erased', 'erasure-ack', 'erasure-status']);
    expect(planInit(catalog, [], existing, -1).some((s) => s.kind === 'topic-config')).toBe(false);
    expect(planInit(catalog, [], existing, 200 * DAY).some((s) => s.kind === 'topic-config')).toBe(false);
  });
});
