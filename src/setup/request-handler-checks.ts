import type pg from 'pg';
import type { Catalog, SubjectType } from '../catalog/catalog.js';
import { displayIdent, formatQualifiedName, tableKey, type TableRef } from '../catalog/identifiers.js';
import type { Finding } from '../cdc/source-checks.js';
import { planErasure, type ForeignKey } from '../requests/erasure-plan.js';
import { readForeignKeys } from '../requests/foreign-keys.js';

/**
 * Doctor's check of what privacy requests need from the primary: each `onRequest` table exists
 * with its subject columns and the columns it anonymizes (a null written into a NOT NULL column,
 * or a hash or pseudonym into a column that is not text, would fail at execution), identity
 * columns exist (and are text when compared case-insensitively), and no kept table has a foreign
 * key conflict with a table the request deletes, reported at the kept table's catalog path.
 */

export interface ColumnFacts {
  notNull: boolean;
  /** pg_type.typcategory: S for string types. */
  category: string;
}

/** Per table key: its columns, or undefined when the table does not exist. */
export type HandlerTableFacts = ReadonlyMap<string, ReadonlyMap<string, ColumnFacts> | undefined>;

export async function checkRequestHandlers(db: pg.ClientBase, catalog: Pick<Catalog, 'subjects'>): Promise<Finding[]> {
  const subjects = catalog.subjects.filter((s) => s.onRequest.length > 0 || s.identities.length > 0);
  if (subjects.length === 0) return [];
  const tables = new Map<string, TableRef>();
  for (const s of subjects) for (const t of [s.table, ...s.onRequest.map((h) => h.table)]) tables.set(tableKey(t), t);
  const refs = [...tables.values()];
  const { rows } = await db.query<{ schema: string; name: string; column: string; not_null: boolean; category: string }>(
    `SELECT n.nspname::text AS schema, c.relname::text AS name, a.attname::text AS column, a.attnotnull AS not_null, ty.typcategory::text AS category
       FROM unnest($1::text[], $2::text[]) AS t(schema, name)
       JOIN pg_namespace n ON n.nspname = t.schema
       JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.name AND c.relkind IN ('r', 'p')
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       JOIN pg_type ty ON ty.oid = a.atttypid`,
    [refs.map((r) => r.schema), refs.map((r) => r.name)],
  );
  const facts = new Map<string, Map<string, ColumnFacts> | undefined>(refs.map((r) => [tableKey(r), undefined]));
  for (const row of rows) {
    const key = tableKey(row);
    const columns = facts.get(key) ?? new Map<string, ColumnFacts>();
    columns.set(row.column, { notNull: row.not_null, category: row.category });
    facts.set(key, columns);
  }
  return requestHandlerFindings(subjects, facts, await readForeignKeys(db, refs));
}

/** The findings, as a pure function of the catalog, the tables' columns and their foreign keys. */
export function requestHandlerFindings(subjects: readonly SubjectType[], facts: HandlerTableFacts, foreignKeys: readonly ForeignKey[]): Finding[] {
  const findings: Finding[] = [];
  const problem = (subject: string, message: string) => findings.push({ level: 'problem', subject, message });
  for (const subject of subjects) {
    const rootColumns = facts.get(tableKey(subject.table));
    for (const identity of subject.identities) {
      const column = rootColumns?.get(identity.column);
      if (rootColumns && !column) problem(`${identity.path}.column`, `no column ${displayIdent(identity.column)} in ${formatQualifiedName(subject.table)}`);
      else if (column && identity.caseInsensitive && column.category !== 'S') problem(`${identity.path}.caseInsensitive`, `${displayIdent(identity.column)} is not text: lower() cannot compare it`);
    }
    if (subject.onRequest.length === 0) continue;
    const before = findings.length;
    for (const handler of subject.onRequest) {
      const name = formatQualifiedName(handler.table);
      const columns = facts.get(tableKey(handler.table));
      if (!columns) {
        problem(`${handler.path}.table`, `no such table ${name}`);
        continue;
      }
      const isRoot = tableKey(handler.table) === tableKey(subject.table);
      for (const c of handler.subjectColumns) {
        // The root's key columns are checked with the rest of the catalog (source checks).
        if (!isRoot && !columns.has(c)) problem(`${handler.path}.subjectColumn`, `no column ${displayIdent(c)} in ${name}`);
      }
      if (handler.action.kind !== 'anonymize') continue;
      for (const [column, replacement] of Object.entries(handler.action.columns)) {
        const at = `${handler.path}.action.anonymize.${column}`;
        const facts_ = columns.get(column);
        if (!facts_) problem(at, `no column ${displayIdent(column)} in ${name}`);
        else if (replacement.kind === 'null' && facts_.notNull) problem(at, `${displayIdent(column)} is NOT NULL in ${name}: null cannot be written (use { literal: … } or hmac)`);
        else if ((replacement.kind === 'hash' || replacement.kind === 'hmac') && facts_.category !== 'S') problem(at, `${displayIdent(column)} is not text in ${name}: a ${replacement.kind} is text`);
      }
    }
    const existing = subject.onRequest.filter((h) => facts.get(tableKey(h.table)));
    const plan = planErasure(existing, foreignKeys, new Map());
    for (const conflict of plan.conflicts) problem(conflict.path, conflict.message);
    if (findings.length === before) {
      const steps = [...plan.writes.map((h) => `${h.action.kind} ${formatQualifiedName(h.table)}`), ...plan.kept.map((k) => `keep ${formatQualifiedName(k.handler.table)}`)];
      findings.push({ level: 'ok', subject: `${subject.path}.onRequest`, message: `a request runs: ${steps.join(', ')}` });
    }
  }
  return findings;
}
