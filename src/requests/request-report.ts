import { escapeHtml, buildReport, renderReport, type ProofReport, type ReportExtras } from '../tracker/proof-report.js';
import type { ErasureStatus } from '../tracker/erasure-status.js';
import type { StatusStore } from '../tracker/status-store.js';
import type { RequestService } from './request-service.js';
import type { RequestException, RequestRow, Transition } from './request-store.js';

/**
 * The proof of a request: it starts from the request (who asked, under which law, by when, every
 * move and who made it), says what was kept and why (a table the catalog keeps, with its reason;
 * a scope under a legal hold, with its basis and review date), then gives the proof of each
 * erasure that names the request. It never claims more than those proofs do.
 */
export interface RequestProof {
  request: string;
  type: string;
  law: string;
  subject: string | null;
  state: string;
  summary: string;
  receivedAt: string;
  deadline: string;
  extension: string | null;
  kept: Array<{ what: string; why: string }>;
  history: Array<{ at: string; from: string | null; to: string; by: string; reason: string | null }>;
  erasures: ProofReport[];
  generatedAt: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

export class RequestReports {
  constructor(
    private readonly service: RequestService,
    private readonly statuses: StatusStore,
  ) {}

  async statusesOf(requestId: string): Promise<ErasureStatus[]> {
    const { store } = this.service;
    const { rows } = await store.query<{ event_id: string }>(
      `SELECT event_id FROM ${store.s}.erasures WHERE facts->>'requestId' = $1 ORDER BY commit_time`,
      [requestId],
      `listing the erasures of request ${requestId}`,
    );
    const found = await Promise.all(rows.map((r) => this.statuses.get(r.event_id)));
    return found.filter((s): s is ErasureStatus => s !== undefined);
  }

  async erasuresOf(requestId: string): Promise<Array<{ eventId: string; status: string; summary: string }>> {
    const now = this.service.clock.now();
    const r = (await this.service.store.get(requestId))!;
    return (await this.statusesOf(requestId)).map((s) => ({ eventId: s.eventId, status: s.status, summary: buildReport(s, now, heldTablesOf(r)).summary }));
  }

  async build(requestId: string): Promise<RequestProof> {
    const { request, transitions } = await this.service.show(requestId);
    return requestProof(request, transitions, await this.statusesOf(requestId), this.service.clock.now());
  }

  async render(requestId: string, format: 'json' | 'md' | 'html'): Promise<{ text: string; type: string }> {
    const proof = await this.build(requestId);
    if (format === 'json') return { text: `${JSON.stringify(proof, null, 2)}\n`, type: 'application/json' };
    if (format === 'md') return { text: markdown(proof), type: 'text/markdown' };
    return { text: html(proof), type: 'text/html' };
  }
}

export function keptLine(e: RequestException): { what: string; why: string } {
  if (e.kind === 'kept') return { what: `table ${e.table}`, why: `kept by the catalog: ${e.reason}` };
  const scope = e.scope === 'all' ? 'everything of the subject' : e.scope.replace(':', ' ');
  return { what: scope, why: `legal hold ${e.holdId}: ${e.basis}; review ${e.review}${e.released ? ' (released since; erased through the same path)' : ''}` };
}

/** The tables a request kept under a hold still in force, as the erasure proof names them. */
export function heldTablesOf(r: Pick<RequestRow, 'exceptions'>): ReportExtras {
  const heldTables = r.exceptions.flatMap((e) =>
    e.kind === 'held' && !e.released && e.scope.startsWith('table:') ? [{ table: e.scope.slice('table:'.length), hold: { id: e.holdId, basis: e.basis, reviewAt: e.review } }] : [],
  );
  return heldTables.length > 0 ? { heldTables } : {};
}

export function requestProof(r: RequestRow, transitions: readonly Transition[], statuses: readonly ErasureStatus[], now: number): RequestProof {
  const erasures = statuses.map((s) => buildReport(s, now, heldTablesOf(r)));
  const kept = r.exceptions.map(keptLine);
  // What the summary says is kept: not a hold released since (its table or sink was erased then).
  const keptNow = r.exceptions.filter((e) => !(e.kind === 'held' && e.released)).map(keptLine);
  // A sink target held by a hold the request already names (its sink scope) is that same line.
  const named = new Set(r.exceptions.flatMap((e) => (e.kind === 'held' ? [e.holdId] : [])));
  for (const s of statuses) {
    for (const t of s.targets) {
      if (t.state !== 'held' || named.has(t.details.hold ?? '')) continue;
      keptNow.push({ what: `${t.sink} ${t.target}`, why: '' });
      kept.push({ what: `${t.sink} ${t.target}`, why: `legal hold ${t.details.hold ?? ''}: ${t.details.basis ?? ''}; review ${t.details.review ?? ''}` });
    }
  }
  return {
    request: r.id,
    type: r.type,
    law: r.law.toUpperCase(),
    subject: r.subjectType && r.subjectId ? `${r.subjectType}:${r.subjectId}` : null,
    state: r.state,
    summary: summaryOf(r, erasures, keptNow),
    receivedAt: iso(r.receivedAt),
    deadline: iso(r.deadline),
    extension: r.extendedAt !== null ? `extended on ${iso(r.extendedAt)}: ${r.extensionReason ?? ''}` : null,
    kept,
    history: transitions.map((t) => ({ at: iso(t.at), from: t.from, to: t.to, by: t.actor, reason: t.reason })),
    erasures,
    generatedAt: iso(now),
  };
}

/** The request's one line: its state, what it kept, then its erasures' own summary lines. */
export function summaryOf(r: RequestRow, erasures: readonly ProofReport[], kept: ReadonlyArray<{ what: string }>): string {
  const lines = [...new Set(erasures.map((e) => e.summary))].join(' ');
  switch (r.state) {
    case 'complete':
      return `Request complete. ${lines}`;
    case 'complete_with_exceptions':
      return `Request complete with exceptions: kept ${kept.map((k) => k.what).join('; ')}. ${lines}`.trim();
    case 'propagating':
    case 'failed':
      return `Request ${r.state === 'failed' ? 'failed' : 'executed, still propagating'}. ${lines}`.trim();
    default:
      return `Request ${r.state.replace(/_/g, ' ')}: nothing has been erased for it.`;
  }
}

function markdown(p: RequestProof): string {
  const cell = (t: string | null) => (t ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = [
    `# Proof of request ${p.request}`,
    '',
    `**${cell(p.summary)}**`,
    '',
    `- Request: \`${p.request}\` (${p.type}, ${p.law})`,
    `- Subject: ${p.subject ? `\`${cell(p.subject)}\`` : 'not resolved'}`,
    `- State: ${p.state}`,
    `- Received: ${p.receivedAt}; deadline ${p.deadline}${p.extension ? ` (${cell(p.extension)})` : ''}`,
    `- Report generated: ${p.generatedAt}`,
  ];
  if (p.kept.length > 0) {
    lines.push('', '## Kept', '', '| what | why |', '| --- | --- |', ...p.kept.map((k) => `| ${cell(k.what)} | ${cell(k.why)} |`));
  }
  lines.push('', '## History', '', '| when | from | to | by | reason |', '| --- | --- | --- | --- | --- |', ...p.history.map((h) => `| ${h.at} | ${h.from ?? ''} | ${h.to} | ${cell(h.by)} | ${cell(h.reason)} |`));
  for (const e of p.erasures) lines.push('', renderReport(e, 'md').replace(/^# /, '## ').replace(/\n## /g, '\n### '));
  return `${lines.join('\n')}\n`;
}

function html(p: RequestProof): string {
  const e = (t: string | null) => escapeHtml(t ?? '');
  const rows = (items: string[][]) => items.map((r) => `<tr>${r.map((c) => `<td>${e(c)}</td>`).join('')}</tr>`).join('\n');
  const erasures = p.erasures.map((x) => renderReport(x, 'html').replace(/^[\s\S]*<body[^>]*>/, '<section>').replace(/<\/body>[\s\S]*$/, '</section>')).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Proof of request ${e(p.request)}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem}table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}th,td{border:1px solid #ccd;padding:.3rem .5rem;text-align:left}.summary{font-weight:600;padding:.6rem .8rem;background:#eef6ee}</style></head>
<body><h1>Proof of request <code>${e(p.request)}</code></h1><p class="summary">${e(p.summary)}</p>
<ul><li>${e(p.type)}, ${e(p.law)}; subject ${e(p.subject ?? 'not resolved')}; state ${e(p.state)}</li><li>received ${e(p.receivedAt)}, deadline ${e(p.deadline)}${p.extension ? `, ${e(p.extension)}` : ''}</li></ul>
${p.kept.length ? `<h2>Kept</h2><table><tr><th>what</th><th>why</th></tr>${rows(p.kept.map((k) => [k.what, k.why]))}</table>` : ''}
<h2>History</h2><table><tr><th>when</th><th>from</th><th>to</th><th>by</th><th>reason</th></tr>${rows(p.history.map((h) => [h.at, h.from ?? '', h.to, h.by, h.reason ?? '']))}</table>
${erasures}
</body></html>
`;
}
