import type { Catalog, SubjectType } from '../catalog/catalog.js';
import { formatQualifiedName, IdentifierError, parseQualifiedName, tableKey, type TableRef } from '../catalog/identifiers.js';
import { configuredSinks, type SinkName } from '../catalog/sinks.js';
import { subjectIdOf } from '../cdc/erasure-manifest.js';
import { UsageError } from '../errors.js';

/**
 * What a legal hold covers, and the rules for placing one. Pure. A hold names a subject in the
 * form the erasure events use (`subjectType` and the joined, percent-encoded `subjectId`), so the
 * sinks can match it against an event without knowing how it was typed.
 */

export type HoldScope = { kind: 'all' } | { kind: 'table'; table: TableRef } | { kind: 'sink'; sink: SinkName };

/** What a hold is stored and shown as: `all`, `table:<schema.table>`, `sink:<name>`. */
export function scopeText(scope: HoldScope): string {
  if (scope.kind === 'all') return 'all';
  return scope.kind === 'table' ? `table:${formatQualifiedName(scope.table)}` : `sink:${scope.sink}`;
}

/** A stored scope text back to its parts (trusted: it was checked when the hold was placed). */
export function scopeOf(text: string): HoldScope {
  if (text === 'all') return { kind: 'all' };
  if (text.startsWith('sink:')) return { kind: 'sink', sink: text.slice('sink:'.length) as SinkName };
  return { kind: 'table', table: parseQualifiedName(text.slice('table:'.length)) };
}

/**
 * Whether a hold with this scope keeps a sink from erasing the subject. A sink erases copies, so
 * it is held by `all` and by its own name; the restored primary (`lethe replay --sink primary`)
 * erases the subject's tables, so a table hold keeps it too.
 */
export function holdsSink(scope: string, sink: string): boolean {
  if (scope === 'all' || scope === `sink:${sink}`) return true;
  return sink === 'primary' && scope.startsWith('table:');
}

/** The tables the catalog names for a subject type: its root, related and request-handled tables, once each. */
export function subjectTables(subject: Pick<SubjectType, 'table' | 'related'> & Partial<Pick<SubjectType, 'onRequest'>>): TableRef[] {
  const all = [subject.table, ...subject.related.map((r) => r.table), ...(subject.onRequest ?? []).map((h) => h.table)];
  return all.filter((t, i) => all.findIndex((o) => tableKey(o) === tableKey(t)) === i);
}

/** `all`, `table:<schema.table>` (a table the catalog names for the subject type), `sink:<name>` (a configured sink). */
export function parseHoldScope(catalog: Pick<Catalog, 'sinks'>, subject: Pick<SubjectType, 'type' | 'table' | 'related'> & Partial<Pick<SubjectType, 'onRequest'>>, text: string): HoldScope {
  const value = text.trim();
  if (value === 'all') return { kind: 'all' };
  if (value.startsWith('sink:')) {
    const sink = value.slice('sink:'.length);
    const sinks = configuredSinks(catalog.sinks);
    if (!(sinks as string[]).includes(sink)) throw new UsageError(`--scope ${text}: no sink ${sink} in the catalog (configured: ${sinks.join(', ') || 'none'})`);
    return { kind: 'sink', sink: sink as SinkName };
  }
  if (value.startsWith('table:')) {
    let table: TableRef;
    try {
      table = parseQualifiedName(value.slice('table:'.length));
    } catch (error) {
      if (error instanceof IdentifierError) throw new UsageError(`--scope ${text}: ${error.message}`);
      throw error;
    }
    const tables = subjectTables(subject);
    if (!tables.some((t) => tableKey(t) === tableKey(table))) {
      throw new UsageError(`--scope ${text}: ${formatQualifiedName(table)} is not a table of subject type ${subject.type} (its tables: ${tables.map(formatQualifiedName).join(', ')})`);
    }
    return { kind: 'table', table };
  }
  throw new UsageError(`--scope ${text}: give all, table:<schema.table> or sink:<name>`);
}

export interface SubjectRef {
  subjectType: string;
  /** As the CDC reader forms it: the key values in key order, each percent-encoded, joined by '/'. */
  subjectId: string;
  /** The key columns and their values. */
  key: Record<string, string>;
}

/**
 * `<type>:<key>` as an operator types it: the key's value, or for a composite key its values in
 * key order joined by '/' (a '/' or '%' inside a value percent-encoded, as the subject ids of the
 * events show them). The id is re-encoded the way the CDC reader encodes it, so `account:acme/7`
 * and `account:acm%65/7` name the same subject.
 */
export function parseSubjectRef(catalog: Pick<Catalog, 'subjects'>, text: string): SubjectRef {
  const at = text.indexOf(':');
  if (at <= 0) throw new UsageError(`--subject ${text}: give <type>:<key>, e.g. user:42`);
  const type = text.slice(0, at);
  const subject = catalog.subjects.find((s) => s.type === type);
  if (!subject) throw new UsageError(`--subject ${text}: no subject type ${type} in the catalog (its types: ${catalog.subjects.map((s) => s.type).join(', ')})`);
  const raw = text.slice(at + 1).split('/');
  if (raw.length !== subject.key.length) {
    throw new UsageError(`--subject ${text}: subject type ${type} has a key of ${subject.key.length} column(s) (${subject.key.join(', ')}); give ${subject.key.length === 1 ? 'its value' : 'their values joined by /'}`);
  }
  let values: string[];
  try {
    values = raw.map((v) => decodeURIComponent(v));
  } catch {
    throw new UsageError(`--subject ${text}: a key value has a malformed percent-encoding`);
  }
  if (values.some((v) => v === '')) throw new UsageError(`--subject ${text}: a key value is empty`);
  return { subjectType: type, subjectId: subjectIdOf(values), key: Object.fromEntries(subject.key.map((c, i) => [c, values[i]!])) };
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** A review date, YYYY-MM-DD, a real calendar day not before today (UTC). */
export function parseReviewDate(text: string, now: number): string {
  const m = DATE.exec(text.trim());
  const date = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : undefined;
  if (!m || !date || date.toISOString().slice(0, 10) !== text.trim()) throw new UsageError(`--review ${text}: give a date as YYYY-MM-DD, e.g. 2027-06-30`);
  const today = new Date(now).toISOString().slice(0, 10);
  if (text.trim() < today) throw new UsageError(`--review ${text}: the review date is in the past (today is ${today})`);
  return text.trim();
}

/**
 * What a subject's active holds mean for an erasure in the primary: under an `all` hold nothing
 * is erased (the oldest such hold is the one named); under `table:` holds those tables are kept,
 * each with its oldest hold. `sink:` holds concern the sinks only.
 */
export function primaryHolds<H extends { scope: string }>(holds: readonly H[]): { all?: H; tables: Array<{ table: TableRef; hold: H }> } {
  const all = holds.find((h) => h.scope === 'all');
  const tables = new Map<string, { table: TableRef; hold: H }>();
  for (const hold of holds) {
    const scope = scopeOf(hold.scope);
    if (scope.kind === 'table' && !tables.has(tableKey(scope.table))) tables.set(tableKey(scope.table), { table: scope.table, hold });
  }
  return { ...(all ? { all } : {}), tables: [...tables.values()] };
}
