/**
 * The one table `make bench` prints: stage | Lethe | reference | ratio | goal | met?. Pure.
 */
export interface Row {
  stage: string;
  lethe: string;
  reference: string;
  ratio: string;
  goal: string;
  met: 'yes' | 'no' | '-';
}

export interface TableInput {
  reader?: { lethe: number; reference: number };
  sinks: Partial<Record<'redis' | 'elasticsearch' | 'compacted', { lethe: number; reference: number }>>;
  endToEnd?: { perSecond: number };
  latency?: { p50: number; p99: number; atPerSecond: number };
  memory: { backlog?: { mib: number; subjects: number; note?: string }; transaction?: { mib: number; subjects: number; note?: string } };
  bigquery?: { perSecond: number; dmlPerErasure: number };
}

const n = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a');
const ratioOf = (a: number, b: number) => (b > 0 ? a / b : Number.NaN);
const yes = (ok: boolean): Row['met'] => (ok ? 'yes' : 'no');
const count = (v: number) => (v >= 1_000_000 && v % 1_000_000 === 0 ? `${v / 1_000_000}M` : n(v));

export function rows(t: TableInput): Row[] {
  const out: Row[] = [];
  const compare = (stage: string, x: { lethe: number; reference: number } | undefined, unit: string, refUnit = unit) => {
    if (!x) return;
    const r = ratioOf(x.lethe, x.reference);
    out.push({ stage, lethe: `${n(x.lethe)} ${unit}`, reference: `${n(x.reference)} ${refUnit}`, ratio: Number.isFinite(r) ? r.toFixed(2) : 'n/a', goal: '>= 0.5', met: yes(r >= 0.5) });
  };
  compare('reader (vs pg_recvlogical)', t.reader, 'erasures/s', 'tx/s');
  compare('Redis sink (vs ioredis script)', t.sinks.redis, 'erasures/s');
  compare('Elasticsearch sink (vs script)', t.sinks.elasticsearch, 'erasures/s');
  compare('compacted sink (vs producer)', t.sinks.compacted, 'erasures/s');
  if (t.endToEnd) out.push({ stage: 'end to end (Redis, ES, compacted, tracker)', lethe: `${n(t.endToEnd.perSecond)} erasures/s`, reference: '-', ratio: '-', goal: '>= 5,000/s', met: yes(t.endToEnd.perSecond >= 5000) });
  if (t.latency) {
    const { p50, p99, atPerSecond } = t.latency;
    out.push({ stage: `latency commit->ack at ${n(atPerSecond)}/s`, lethe: `p50 ${p50.toFixed(2)} s, p99 ${p99.toFixed(2)} s`, reference: '-', ratio: '-', goal: '<= 0.5 s / 2 s', met: yes(p50 <= 0.5 && p99 <= 2) });
  }
  for (const [key, label] of [['backlog', 'erasure backlog'], ['transaction', 'subjects in one transaction']] as const) {
    const m = t.memory[key];
    if (!m) continue;
    out.push({ stage: `memory: ${count(m.subjects)} ${label}`, lethe: `${n(m.mib)} MiB peak RSS${m.note ? ` (${m.note})` : ''}`, reference: '-', ratio: '-', goal: '<= 256 MiB', met: yes(m.mib <= 256 && m.note === undefined) });
  }
  if (t.bigquery) {
    out.push({ stage: 'BigQuery emulator (context)', lethe: `${n(t.bigquery.perSecond)} erasures/s, ${t.bigquery.dmlPerErasure.toFixed(4)} DML/erasure`, reference: '-', ratio: '-', goal: '<= 0.01 DML/erasure', met: yes(t.bigquery.dmlPerErasure <= 0.01) });
  }
  return out;
}

export function format(table: Row[]): string {
  const header: Row = { stage: 'stage', lethe: 'Lethe', reference: 'reference (same run, same data)', ratio: 'ratio', goal: 'goal', met: 'met?' as Row['met'] };
  const cols = Object.keys(header) as Array<keyof Row>;
  const width = (c: keyof Row) => Math.max(...[header, ...table].map((r) => r[c].length));
  const line = (r: Row) => `| ${cols.map((c) => r[c].padEnd(width(c))).join(' | ')} |`;
  return [line(header), `| ${cols.map((c) => '-'.repeat(width(c))).join(' | ')} |`, ...table.map(line)].join('\n');
}
