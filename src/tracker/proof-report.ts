import type { ErasureStatus, TargetStatus } from './erasure-status.js';

/**
 * The proof of erasure for one erasure: what happened to each copy, in words an auditor reads,
 * and one summary line that never claims more than the acks show. Pure; rendered as Markdown,
 * JSON or HTML. It names the subject by key only; the erased personal data is nowhere in Lethe.
 */

export interface ReportRow {
  system: string;
  target: string;
  done: string;
  when: string | null;
  verification: string;
}

export interface ProofReport {
  eventId: string;
  subject: string;
  status: ErasureStatus['status'];
  summary: string;
  generatedAt: string;
  request: string;
  change: string[];
  dueAt: string | null;
  completedAt: string | null;
  targets: ReportRow[];
  manual: ReportRow[];
  backups: ReportRow[];
  /** What a legal hold keeps: sink targets that acked HELD, and tables the request's executor kept. */
  held: ReportRow[];
  replays: ReportRow[];
}

/** A legal hold as the proof names it. */
export interface HoldRef {
  id: string;
  basis: string;
  /** YYYY-MM-DD. */
  reviewAt: string;
}

/** One thing kept under a legal hold: a sink target, or a table in the primary (`system` 'primary'). */
export interface HeldPart {
  system: string;
  target: string;
  hold: HoldRef;
  at: number | null;
}

/** What the caller knows beyond the erasure's status: tables the request's executor kept under a hold. */
export interface ReportExtras {
  heldTables?: Array<{ table: string; hold: HoldRef; at?: number | null }>;
}

export type ReportFormat = 'md' | 'json' | 'html';
export const REPORT_FORMATS: readonly ReportFormat[] = ['md', 'json', 'html'];

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** What a sink's `affected` counts at a target. */
function unitOf(t: TargetStatus): string {
  if (t.sink === 'redis') return t.target.startsWith('hash ') ? 'field' : t.target.startsWith('set ') ? 'member' : 'key';
  if (t.sink === 'elasticsearch') return 'document';
  if (t.sink === 'bigquery') return 'row';
  if (t.sink === 'compacted') return 'tombstone';
  return 'item';
}

/**
 * A compacted topic's row from its ack's details (`tombstones`, `verified`, `not-verified`,
 * `affected-unknown`): what the read-back established, and nothing more. Acks from before the
 * read-back carry none of them.
 */
function compactedRow(t: TargetStatus): { done: string; verification: string } | undefined {
  const d = t.details;
  if (d.tombstones === undefined || (t.state !== 'applied' && t.state !== 'nothing_to_do')) return undefined;
  const wrote = t.parts ? `wrote tombstones for every key of its ${t.parts.total} parts` : `wrote ${plural(Number(d.tombstones), 'tombstone')}`;
  const had = d['affected-unknown'] !== undefined ? `whether the keys had a record is not known: ${d['affected-unknown']}` : `${t.affected} had a record`;
  const done = `${wrote}; ${d['affected-unknown'] !== undefined ? had : t.affected === 0 ? 'no key had a record' : had}`;
  if (d['not-verified'] !== undefined) return { done, verification: `written, not verified: ${d['not-verified']}` };
  const lag = d['max.compaction.lag.ms'];
  const within = lag !== undefined && lag !== '9223372036854775807' ? `within max.compaction.lag.ms (${lag} ms)` : 'within max.compaction.lag.ms (unbounded on this topic)';
  const keys = t.parts ? 'every key' : plural(Number(d.verified ?? 0), 'key');
  return { done, verification: `tombstone is the latest record for ${keys} (${had}); older records are removed when the log cleaner runs, ${within}` };
}

/**
 * What an applied target did, from its action (src/catalog/targets.ts): "anonymized" only for
 * null and literal replacements, "pseudonymized" for hash and hmac (`anonymize email, name;
 * pseudonymize phone: HMAC-SHA256 key k2026`).
 */
function appliedOf(t: TargetStatus): string {
  const parts = (t.action ?? '').split('; ');
  const anonymize = parts.find((p) => p.startsWith('anonymize '))?.slice('anonymize '.length);
  const pseudonymize = parts.find((p) => p.startsWith('pseudonymize '))?.slice('pseudonymize '.length);
  const rows = plural(t.affected, unitOf(t));
  if (anonymize && pseudonymize) return `anonymized ${rows} (${anonymize}); pseudonymized (${pseudonymize})`;
  if (anonymize) return `anonymized ${rows} (${anonymize})`;
  if (pseudonymize) return `pseudonymized ${rows} (${pseudonymize})`;
  return `deleted ${rows}`;
}

function doneOf(t: TargetStatus): string {
  if (t.sink === 'compacted') {
    const row = compactedRow(t);
    if (row) return row.done;
  }
  switch (t.state) {
    case 'applied':
      if (t.sink === 'compacted') return `wrote ${plural(t.affected, 'tombstone')}`;
      return appliedOf(t);
    case 'nothing_to_do':
      return 'nothing to do: no copy of the subject found';
    case 'deferred':
      return `deferred, will retry: ${t.error ?? 'the store cannot change the data yet'}`;
    case 'failed':
      return `FAILED: ${t.error ?? 'no reason given'}`;
    case 'held':
      return `not erased: kept under legal hold ${t.details.hold ?? '(unnamed)'}`;
    default:
      return 'pending: not acknowledged yet';
  }
}

function verificationOf(t: TargetStatus): string {
  if (t.state === 'pending' || t.state === 'deferred') return 'not verified yet';
  if (t.state === 'held') return `the subject's data is kept; review on ${t.details.review ?? 'an unknown date'}`;
  if (t.residual > 0) return `${t.residual} still found`;
  if (t.state === 'failed') return 'not verified';
  if (t.sink === 'compacted') {
    const row = compactedRow(t);
    if (row) return row.verification;
  }
  return t.sink === 'compacted' ? 'tombstones written; the log cleaner removes older records' : '0 remaining';
}

/** The hold of a target that acked HELD, from the ack's details. */
function holdOfTarget(t: TargetStatus): HoldRef {
  return { id: t.details.hold ?? '(unnamed)', basis: t.details.basis ?? '', reviewAt: t.details.review ?? '' };
}

/** Every part kept under a hold: the erasure's held targets, then the tables the caller names. */
export function heldParts(s: ErasureStatus, extras: ReportExtras = {}): HeldPart[] {
  return [
    ...s.targets.filter((t) => t.state === 'held').map((t) => ({ system: t.sink, target: t.target, hold: holdOfTarget(t), at: t.at })),
    ...(extras.heldTables ?? []).map((k) => ({ system: 'primary', target: `table ${k.table}`, hold: k.hold, at: k.at ?? null })),
  ];
}

/** A held part as a row of the proof's "Kept under legal hold" section. */
export function heldRow(part: HeldPart): ReportRow {
  return { system: part.system, target: part.target, done: `kept under legal hold ${part.hold.id}: ${part.hold.basis}`, when: iso(part.at), verification: `not erased; the hold is reviewed on ${part.hold.reviewAt}` };
}

/** A held part in one line: `bigquery table events (hold hold_x, "basis", review 2027-06-30)`. */
export function heldLine(part: HeldPart): string {
  return `${part.system === 'primary' ? part.target.replace(/^table /, '') : `${part.system} ${part.target}`} (hold ${part.hold.id}, "${part.hold.basis}", review ${part.hold.reviewAt})`;
}

/**
 * The one summary line. It says "removed from all active systems" only when every active target
 * is done and nothing is kept under a legal hold.
 */
export function summaryLine(s: ErasureStatus, now: number, extras: ReportExtras = {}): string {
  if (!s.known && s.status === 'failed') {
    return `Not removed: the erasure record could not be read by the sinks (${s.targets.find((t) => t.state === 'failed')?.error ?? 'see the dead-letter topics'}).`;
  }
  if (!s.known) return 'Not accounted for yet: the erasure event itself has not been read by the tracker.';
  const active = s.targets.filter((t) => t.kind === 'sink' || t.kind === 'manual');
  const name = (t: TargetStatus) => (t.kind === 'sink' ? `${t.sink} ${t.target}` : t.target);
  if (s.status === 'failed') {
    const failed = active.filter((t) => t.state === 'failed');
    return `Not removed: ${plural(failed.length, 'target')} failed (${failed.map(name).join('; ')}).`;
  }
  const held = heldParts(s, extras);
  if ((s.status === 'held' || s.status === 'complete') && held.length > 0) {
    return `Not erased everywhere: kept under legal hold in ${held.map(heldLine).join('; ')}; ${s.counts.done} of ${s.counts.targets} targets done${heldBackups(s, now)}.`;
  }
  if (s.status !== 'complete') {
    const waiting = active.filter((t) => !['applied', 'nothing_to_do', 'confirmed'].includes(t.state));
    const overdue = s.status === 'overdue' && s.dueAt !== null ? `; overdue since ${iso(s.dueAt)}` : '';
    return `Not yet removed from all active systems: ${s.counts.done} of ${s.counts.targets} targets done; waiting for ${waiting.map(name).join('; ')}${overdue}.`;
  }
  // A tombstone hides a record at once; the superseded records go when the log cleaner runs.
  const compacted = active.filter((t) => t.sink === 'compacted' && t.state === 'applied');
  const cleaning = compacted.length > 0 ? ` Compacted topics drop the superseded records at their next log cleaning (${compacted.map((t) => t.target).join('; ')}).` : '';
  // Never "removed" where the store was not read back: it says what is known instead.
  const unverified = active.filter((t) => t.sink === 'compacted' && t.details['not-verified'] !== undefined);
  // A pseudonymized value is still personal data to whoever holds the key (or can guess it).
  const pseudonymized = active.filter((t) => t.state === 'applied' && (t.action ?? '').split('; ').some((p) => p.startsWith('pseudonymize ')));
  let claim = 'Removed from all active systems';
  if (pseudonymized.length > 0) claim = `Removed from all active systems, except pseudonymized values in ${pseudonymized.map(name).join('; ')}`;
  if (unverified.length > 0) claim = `Erasure applied in all active systems, but not verified in ${unverified.map(name).join('; ')} (tombstones written, not read back)${pseudonymized.length > 0 ? `; pseudonymized values remain in ${pseudonymized.map(name).join('; ')}` : ''}`;
  return `${removedLine(s, now).replace(/^Removed from all active systems/, claim)}${cleaning}`;
}

/** The backups' part of a held erasure's line. */
function heldBackups(s: ErasureStatus, now: number): string {
  const holding = s.targets.filter((t) => t.kind === 'backup' && t.heldUntil !== undefined && t.heldUntil > now);
  return holding.length > 0 ? `; copies also remain in ${holding.map((t) => `${t.target} until ${day(t.heldUntil!)}`).join(', ')}` : '';
}

function removedLine(s: ErasureStatus, now: number): string {
  const backups = s.targets.filter((t) => t.kind === 'backup');
  const holding = backups.filter((t) => t.heldUntil !== undefined && t.heldUntil > now).sort((a, b) => a.heldUntil! - b.heldUntil!);
  if (holding.length > 0) {
    return `Removed from all active systems; copies remain in ${holding.map((t) => `${t.target} until ${day(t.heldUntil!)}`).join(', ')}.`;
  }
  if (backups.length > 0) return `Removed from all active systems; the backups that held copies (${backups.map((t) => t.target).join(', ')}) have expired.`;
  return 'Removed from all active systems; the catalog declares no backups.';
}

/** Who was authenticated for a confirmation: `by` is what they typed, this is what the tracker knew. */
function authenticatedAs(via: string | null | undefined): string {
  if (via?.startsWith('token:')) return `token ${via.slice('token:'.length)}`;
  if (via?.startsWith('cli:')) return `lethe confirm as OS user ${via.slice('cli:'.length)}`;
  return 'not authenticated: recorded before the tracker kept who confirmed';
}

export function buildReport(s: ErasureStatus, now: number, extras: ReportExtras = {}): ProofReport {
  const f = s.facts;
  const change: string[] = [];
  if (f) {
    change.push(`${f.sourceTable}: the subject's row was ${f.operation === 'DELETE' ? 'deleted' : 'anonymized in place (the row is kept)'} at ${iso(f.commitTime)} (commit LSN ${f.commitLsn})`);
    for (const r of f.related) {
      change.push(`${r.table}: ${plural(r.rows, 'row')} ${r.operation === 'DELETE' ? 'deleted' : 'updated in place (kept)'} in the same transaction`);
    }
    if ((f.parts ?? 1) > 1) change.push(`the erasure event was sent in ${f.parts} parts (too large for one Kafka record); every store above accounts for all of them`);
  }
  const row = (t: TargetStatus, system: string, done: string, verification: string): ReportRow => ({ system, target: t.target, done, when: iso(t.at), verification });
  return {
    eventId: s.eventId,
    subject: `${s.subjectType}:${s.subjectId}`,
    status: s.status,
    summary: summaryLine(s, now, extras),
    generatedAt: iso(now)!,
    request: f?.requestId ? `erasure request ${f.requestId}` : "none: the application's own change in the database",
    change,
    dueAt: iso(s.dueAt),
    completedAt: iso(s.completedAt),
    targets: s.targets.filter((t) => t.kind === 'sink').map((t) => row(t, t.sink, doneOf(t), verificationOf(t))),
    manual: s.targets
      .filter((t) => t.kind === 'manual')
      .map((t) =>
        row(
          t,
          'manual',
          t.state === 'confirmed' ? `confirmed by ${t.confirmedBy} (${authenticatedAs(t.confirmedVia)})${t.note ? `: ${t.note}` : ''}` : `pending: ${t.owner} to ${t.action}`,
          t.state === 'confirmed' ? 'confirmed by its owner' : 'awaiting confirmation',
        ),
      ),
    backups: s.targets
      .filter((t) => t.kind === 'backup')
      .map((t) =>
        row(
          t,
          'backup',
          t.heldUntil === undefined ? 'not erased (backups are never edited)' : t.state === 'expired' || t.heldUntil <= now ? `expired on ${day(t.heldUntil)}` : `not erased: holds the data until ${day(t.heldUntil)}`,
          t.onRestore ? `on restore: ${t.onRestore}` : 'on restore: replay the erasure log',
        ),
      ),
    held: heldParts(s, extras).map(heldRow),
    replays: s.targets
      .filter((t) => t.lastReplay)
      .map((t) => ({
        system: t.sink,
        target: t.target,
        done: `${plural(t.replays, 'replay')}; last: ${t.lastReplay!.outcome.toLowerCase().replace(/_/g, ' ')}, ${t.lastReplay!.affected} affected`,
        when: iso(t.lastReplay!.at),
        verification: t.lastReplay!.residual > 0 ? `${t.lastReplay!.residual} still found` : '0 remaining',
      })),
  };
}

export function renderReport(report: ProofReport, format: ReportFormat): string {
  if (format === 'json') return `${JSON.stringify(report, null, 2)}\n`;
  return format === 'md' ? renderMarkdown(report) : renderHtml(report);
}

const SECTIONS = [
  ['targets', 'Sinks'],
  ['manual', 'Manual systems'],
  ['backups', 'Backups'],
  ['held', 'Kept under legal hold'],
  ['replays', 'Replays after restores'],
] as const;

function renderMarkdown(r: ProofReport): string {
  const cell = (text: string | null) => (text ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = [
    `# Proof of erasure: ${cell(r.subject)}`,
    '',
    `**${cell(r.summary)}**`,
    '',
    `- Erasure: \`${r.eventId}\``,
    `- Subject: \`${cell(r.subject)}\` (key only; Lethe never holds the erased data)`,
    `- Status: ${r.status}${r.completedAt ? ` at ${r.completedAt}` : ''}${r.dueAt ? ` (due by ${r.dueAt})` : ''}`,
    `- Request: ${cell(r.request)}`,
    ...r.change.map((c) => `- Database change: ${cell(c)}`),
    `- Report generated: ${r.generatedAt}`,
  ];
  for (const [key, title] of SECTIONS) {
    if (r[key].length === 0) continue;
    lines.push('', `## ${title}`, '', '| system | target | what was done | when | verification |', '| --- | --- | --- | --- | --- |');
    for (const row of r[key]) lines.push(`| ${cell(row.system)} | ${cell(row.target)} | ${cell(row.done)} | ${cell(row.when)} | ${cell(row.verification)} |`);
  }
  return `${lines.join('\n')}\n`;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function renderHtml(r: ProofReport): string {
  const e = (text: string | null) => escapeHtml(text ?? '');
  const sections = SECTIONS.filter(([key]) => r[key].length > 0)
    .map(
      ([key, title]) =>
        `<h2>${title}</h2>\n<table><thead><tr><th>system</th><th>target</th><th>what was done</th><th>when</th><th>verification</th></tr></thead><tbody>\n${r[key]
          .map((row) => `<tr><td>${e(row.system)}</td><td><code>${e(row.target)}</code></td><td>${e(row.done)}</td><td>${e(row.when)}</td><td>${e(row.verification)}</td></tr>`)
          .join('\n')}\n</tbody></table>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Proof of erasure: ${e(r.subject)}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#1d2430}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}th,td{border:1px solid #ccd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f1f3f7}.summary{font-weight:600;padding:.6rem .8rem;background:#eef6ee;border-left:4px solid #3a7d44}
.status-held .summary{background:#f3eefa;border-color:#6b4fa0}.status-failed .summary,.status-overdue .summary{background:#fbeaea;border-color:#b3261e}</style></head>
<body class="status-${e(r.status)}">
<h1>Proof of erasure: <code>${e(r.subject)}</code></h1>
<p class="summary">${e(r.summary)}</p>
<ul>
<li>Erasure: <code>${e(r.eventId)}</code></li>
<li>Status: ${e(r.status)}${r.completedAt ? ` at ${e(r.completedAt)}` : ''}${r.dueAt ? ` (due by ${e(r.dueAt)})` : ''}</li>
<li>Request: ${e(r.request)}</li>
${r.change.map((c) => `<li>Database change: ${e(c)}</li>`).join('\n')}
<li>Report generated: ${e(r.generatedAt)}</li>
</ul>
${sections}
</body></html>
`;
}
