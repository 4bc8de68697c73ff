import { describe, expect, it } from 'vitest';
import { foldErasure, type AckRecord, type ErasureFacts, type ExpectedTarget } from '../../../src/tracker/erasure-status.js';
import { buildReport, renderReport, summaryLine } from '../../../src/tracker/proof-report.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 21, 9, 30, 0);
const facts: ErasureFacts = {
  eventId: 'e-9',
  subjectType: 'member',
  subjectId: 'acme/42',
  requestId: 'req-77',
  operation: 'ANONYMIZE',
  sourceTable: 'crm."Member"',
  commitLsn: '0/2000',
  commitTime: T0,
  related: [
    { table: 'crm.visits', operation: 'DELETE', rows: 3 },
    { table: 'crm.invoices', operation: 'UPDATE', rows: 1 },
  ],
};
const expected: ExpectedTarget[] = [
  { kind: 'sink', sink: 'elasticsearch', target: 'index members', action: 'anonymize email, name' },
  { kind: 'sink', sink: 'redis', target: 'key m:{subject}', action: 'delete' },
  { kind: 'manual', sink: 'manual', target: 'billing-vendor', owner: 'billing@corp.example', action: 'close the account' },
  { kind: 'backup', sink: 'backup', target: 'pg-nightly', retentionMs: 30 * DAY, onRestore: 'lethe replay --sink primary --since <backup time>' },
];
const ack = (sink: string, target: string, over: Partial<AckRecord> = {}): AckRecord => ({
  eventId: 'e-9', subjectType: 'member', subjectId: 'acme/42', sink, target, outcome: 'APPLIED', affected: 2, residual: 0, attempt: 1, replay: false, error: null, details: {}, at: T0 + 2000, ...over,
});
const allAcks = [ack('elasticsearch', 'index members'), ack('redis', 'key m:{subject}', { affected: 1 })];
const status = (acks: AckRecord[], confirmed: boolean, now = T0 + DAY) =>
  foldErasure({ facts, expected, acks, confirmations: confirmed ? [{ eventId: 'e-9', system: 'billing-vendor', by: 'ops-lee', via: 'token:ops-lee', note: 'ticket 18', at: T0 + 3600_000 }] : [], slaMs: 3 * DAY, now });

describe('proof report wording', () => {
  it('while a target is pending it never says removed', () => {
    const line = summaryLine(status([allAcks[0]!], false), T0 + DAY);
    expect(line).toMatch(/^Not yet removed from all active systems: 1 of 3 targets done; waiting for redis key m:\{subject\}; billing-vendor\.$/);
    expect(line).not.toMatch(/deleted everywhere/);
  });

  it('partial because of a manual system names it, and says overdue past the SLA', () => {
    const line = summaryLine(status(allAcks, false, T0 + 4 * DAY), T0 + 4 * DAY);
    expect(line).toBe(`Not yet removed from all active systems: 2 of 3 targets done; waiting for billing-vendor; overdue since ${new Date(T0 + 3 * DAY).toISOString()}.`);
  });

  it('complete with a backup still holding data says until when', () => {
    expect(summaryLine(status(allAcks, true), T0 + DAY)).toBe('Removed from all active systems; copies remain in pg-nightly until 2026-12-21.');
  });

  it('complete after every backup expired says so, and without backups says none are declared', () => {
    expect(summaryLine(status(allAcks, true, T0 + 40 * DAY), T0 + 40 * DAY)).toMatch(/backups that held copies \(pg-nightly\) have expired/);
    const noBackups = foldErasure({ facts, expected: expected.slice(0, 2), acks: allAcks, confirmations: [], slaMs: DAY, now: T0 });
    expect(summaryLine(noBackups, T0)).toBe('Removed from all active systems; the catalog declares no backups.');
  });

  it('names the targets that keep pseudonymized values instead of calling them removed', () => {
    const withWarehouse: ExpectedTarget[] = [...expected.slice(0, 2), { kind: 'sink', sink: 'bigquery', target: 'table wh.orders', action: 'anonymize email; pseudonymize phone: SHA-256 unkeyed' }];
    const s = foldErasure({ facts, expected: withWarehouse, acks: [...allAcks, ack('bigquery', 'table wh.orders')], confirmations: [], slaMs: DAY, now: T0 });
    expect(summaryLine(s, T0)).toBe('Removed from all active systems, except pseudonymized values in bigquery table wh.orders; the catalog declares no backups.');
  });

  it('never says removed where a compacted topic was written but not read back', () => {
    const withTopic: ExpectedTarget[] = [...expected.slice(0, 2), { kind: 'sink', sink: 'compacted', target: 'topic app.members key {subject}', action: 'delete' }];
    const unread = ack('compacted', 'topic app.members key {subject}', { affected: 0, outcome: 'NOTHING_TO_DO', details: { tombstones: '1', verified: '0', 'not-verified': 'partition 0 was not read back within 30000 ms' } });
    const s = foldErasure({ facts, expected: withTopic, acks: [...allAcks, unread], confirmations: [], slaMs: DAY, now: T0 });
    const line = summaryLine(s, T0);
    expect(line).not.toMatch(/^Removed/);
    expect(line).toMatch(/^Erasure applied in all active systems, but not verified in compacted topic app\.members key \{subject\} \(tombstones written, not read back\); the catalog declares no backups\.$/);
  });

  it('says when superseded records of compacted topics go, after the tombstones', () => {
    const withTopic: ExpectedTarget[] = [...expected.slice(0, 2), { kind: 'sink', sink: 'compacted', target: 'topic app.members key {subject}', action: 'delete' }];
    const acks = [...allAcks, ack('compacted', 'topic app.members key {subject}', { affected: 1 })];
    const s = foldErasure({ facts, expected: withTopic, acks, confirmations: [], slaMs: DAY, now: T0 });
    expect(summaryLine(s, T0)).toBe(
      'Removed from all active systems; the catalog declares no backups. Compacted topics drop the superseded records at their next log cleaning (topic app.members key {subject}).',
    );
    expect(buildReport(s, T0).targets[2]!.done).toBe('wrote 1 tombstone');
  });

  it('an undecodable erasure record is reported as not removed, with the reason', () => {
    const poison = ack('redis', '*', { eventId: 'undecodable:erasures/0/9', outcome: 'FAILED', affected: 0, error: 'undecodable record: unknown magic byte' });
    const s = foldErasure({ facts: null, expected: [], acks: [poison], confirmations: [], slaMs: DAY, now: T0 });
    expect(summaryLine(s, T0)).toBe('Not removed: the erasure record could not be read by the sinks (undecodable record: unknown magic byte).');
  });

  it('failed names the failed target', () => {
    const s = status([ack('elasticsearch', 'index members', { outcome: 'FAILED', residual: 1, error: 'verification found 1 remaining after applying' }), allAcks[1]!], true);
    expect(summaryLine(s, T0)).toBe('Not removed: 1 target failed (elasticsearch index members).');
  });

  it('states what was done per target, kept rows, manual confirmation and backups', () => {
    const report = buildReport(status([...allAcks, ack('redis', 'key m:{subject}', { replay: true, affected: 1, at: T0 + 5 * DAY })], true), T0 + DAY);
    expect(report.subject).toBe('member:acme/42');
    expect(report.request).toBe('erasure request req-77');
    expect(report.change).toEqual([
      `crm."Member": the subject's row was anonymized in place (the row is kept) at ${new Date(T0).toISOString()} (commit LSN 0/2000)`,
      'crm.visits: 3 rows deleted in the same transaction',
      'crm.invoices: 1 row updated in place (kept) in the same transaction',
    ]);
    expect(report.targets.map((r) => r.done)).toEqual(['anonymized 2 documents (email, name)', 'deleted 1 key']);
    expect(report.targets.every((r) => r.verification === '0 remaining')).toBe(true);
    expect(report.manual[0]).toMatchObject({ done: 'confirmed by ops-lee (token ops-lee): ticket 18', when: new Date(T0 + 3600_000).toISOString() });
    expect(report.backups[0]).toMatchObject({ done: 'not erased: holds the data until 2026-12-21', verification: 'on restore: lethe replay --sink primary --since <backup time>' });
    expect(report.replays).toHaveLength(1);
  });

  it('says who was authenticated for a confirmation beside who the confirmer said they were', () => {
    const confirmedVia = (via: string | null) =>
      buildReport(foldErasure({ facts, expected, acks: allAcks, confirmations: [{ eventId: 'e-9', system: 'billing-vendor', by: 'Kim', via, note: '', at: T0 + 1 }], slaMs: 3 * DAY, now: T0 + DAY }), T0 + DAY).manual[0]!.done;
    expect(confirmedVia('cli:kim')).toBe('confirmed by Kim (lethe confirm as OS user kim)');
    expect(confirmedVia(null)).toBe('confirmed by Kim (not authenticated: recorded before the tracker kept who confirmed)');
  });

  it('renders Markdown, JSON and escaped HTML', () => {
    const report = buildReport(status(allAcks, true), T0 + DAY);
    const md = renderReport(report, 'md');
    expect(md).toContain('# Proof of erasure: member:acme/42');
    expect(md).toContain('| elasticsearch | index members | anonymized 2 documents (email, name) |');
    expect(JSON.parse(renderReport(report, 'json')).summary).toBe(report.summary);
    const html = renderReport({ ...report, subject: 'x:<script>' }, 'html');
    expect(html).toContain('x:&lt;script&gt;');
    expect(html).not.toContain('<script>');
  });

  it('says pseudonymized for hash and hmac columns, anonymized only for null and literal ones', () => {
    const targets: ExpectedTarget[] = [
      { kind: 'sink', sink: 'bigquery', target: 'table wh.orders', action: 'anonymize email, name; pseudonymize phone: HMAC-SHA256 key k2026' },
      { kind: 'sink', sink: 'bigquery', target: 'table wh.calls', action: 'pseudonymize phone: SHA-256 unkeyed' },
    ];
    const acks = [ack('bigquery', 'table wh.orders', { affected: 3 }), ack('bigquery', 'table wh.calls', { affected: 1 })];
    const report = buildReport(foldErasure({ facts, expected: targets, acks, confirmations: [], slaMs: 3 * DAY, now: T0 + DAY }), T0 + DAY);
    expect(report.targets.map((r) => r.done)).toEqual(['anonymized 3 rows (email, name); pseudonymized (phone: HMAC-SHA256 key k2026)', 'pseudonymized 1 row (phone: SHA-256 unkeyed)']);
  });
});
