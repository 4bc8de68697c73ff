import type pg from 'pg';
import type { Catalog } from '../catalog/catalog.js';
import { displayIdent, formatQualifiedName, tableKey, type TableRef } from '../catalog/identifiers.js';
import { delimitersOf, isPattern, placeholderSpans } from '../catalog/key-template.js';
import type { Finding } from '../cdc/source-checks.js';

/**
 * The characters a PostgreSQL type can print. A value of another type may print anything: when it
 * holds the delimiter beside its placeholder in a Redis pattern, erasing one subject matches
 * another's keys (for `session:{subject}:*`, erasing `4` matches the keys of subject `4:x`).
 */
const PRINTABLE: Record<string, string> = {
  smallint: '0123456789-',
  integer: '0123456789-',
  bigint: '0123456789-',
  uuid: '0123456789abcdef-',
  // A composite subject id: values percent-encoded (encodeURIComponent) and joined by '/'.
  composite: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()%/",
};

/** Where a placeholder's value comes from: a column of the root or a related table. */
interface PatternUse {
  path: string;
  template: string;
  placeholder: string;
  delimiters: string[];
  table: TableRef;
  column: string | undefined;
}

/** Every placeholder of every Redis pattern template, with the literal characters beside it. Pure. */
export function patternUses(catalog: Catalog): PatternUse[] {
  const uses: PatternUse[] = [];
  const subjects = new Map(catalog.subjects.map((s) => [s.type, s]));
  const add = (path: string, template: string, table: (name: string) => { table: TableRef; column: string | undefined }) => {
    if (!isPattern(template)) return;
    for (const span of placeholderSpans(template)) {
      const delimiters = delimitersOf(span, true);
      if (delimiters.length > 0) uses.push({ path, template, placeholder: span.name, delimiters, ...table(span.name) });
    }
  };
  for (const [type, s] of catalog.sinks.redis?.subjects ?? []) {
    const subject = subjects.get(type)!;
    const ofSubject = (name: string) => ({
      table: subject.table,
      column: name === 'subject' ? (subject.key.length === 1 ? subject.key[0] : undefined) : name.startsWith('key.') ? name.slice(4) : undefined,
    });
    s.keys.forEach((t, i) => add(`sinks.redis.${type}.keys[${i}]`, t, ofSubject));
    for (const related of s.related) {
      related.templates.forEach((t, i) =>
        add(`sinks.redis.${type}.related.${formatQualifiedName(related.table)}[${i}]`, t, (name) => (name.startsWith('row.') ? { table: related.table, column: name.slice(4) } : ofSubject(name))),
      );
    }
  }
  return uses;
}

/** Findings for pattern placeholders whose column's type can print the delimiter beside them. Pure. */
export function checkPatternDelimiters(uses: readonly PatternUse[], typeOf: (table: TableRef, column: string) => string | undefined): Finding[] {
  const findings: Finding[] = [];
  for (const use of uses) {
    const type = use.column === undefined ? 'composite' : typeOf(use.table, use.column);
    if (type === undefined) continue; // a missing column is the source checks' finding
    const printable = PRINTABLE[type];
    const clashing = use.delimiters.filter((d) => printable === undefined || printable.includes(d));
    if (clashing.length === 0) continue;
    const source = use.column === undefined ? 'the composite subject id' : `${formatQualifiedName(use.table)}.${displayIdent(use.column)} (${type})`;
    findings.push({
      level: 'warn',
      subject: use.path,
      message:
        `"${use.template}": {${use.placeholder}} comes from ${source}, whose values can hold '${clashing.join("', '")}', the delimiter beside it: ` +
        `erasing one subject could match another's keys (4 would match the keys of 4${clashing[0]}x). A subject whose own value holds it is refused; ` +
        'use a delimiter its values cannot hold, or an exact key',
    });
  }
  return findings;
}

/** Doctor: the column types behind Redis pattern placeholders, checked against their delimiters. */
export async function checkPatterns(db: pg.ClientBase, catalog: Catalog): Promise<Finding[]> {
  const all = patternUses(catalog);
  const uses = all.filter((u) => u.column !== undefined);
  if (all.length === 0) return [];
  const { rows } = await db.query<{ schema: string; name: string; column: string; type: string }>(
    `SELECT n.nspname AS schema, c.relname AS name, a.attname AS column, format_type(a.atttypid, NULL) AS type
       FROM unnest($1::text[], $2::text[], $3::text[]) AS t(schema, name, column_name)
       JOIN pg_namespace n ON n.nspname = t.schema
       JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.name
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = t.column_name AND a.attnum > 0 AND NOT a.attisdropped`,
    [uses.map((u) => u.table.schema), uses.map((u) => u.table.name), uses.map((u) => u.column!)],
  );
  const types = new Map(rows.map((r) => [`${tableKey({ schema: r.schema, name: r.name })}\u0000${r.column}`, r.type]));
  return checkPatternDelimiters(all, (table, column) => types.get(`${tableKey(table)}\u0000${column}`));
}
