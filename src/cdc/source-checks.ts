import type { Catalog } from '../catalog/catalog.js';
import { displayIdent, formatQualifiedName, quoteIdent, tableKey, type TableRef } from '../catalog/identifiers.js';
import type { SourceFacts } from './source-inspection.js';

export interface Finding {
  level: 'ok' | 'warn' | 'problem';
  /** The catalog path or object at fault. */
  subject: string;
  message: string;
  /** A statement that fixes it, when there is one. */
  fix?: string;
  /** Whether `lethe init` applies the fix. */
  initFixes?: boolean;
}

/** Bytes of retained WAL above which doctor warns that the slot is falling behind. */
export const SLOT_LAG_WARNING_BYTES = 1024 ** 3;

const sqlTable = (t: TableRef) => `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;

/**
 * Everything `lethe doctor` checks, as a pure function of the catalog and the database's facts:
 * logical decoding, the catalogued tables and columns, the publication, each table's replica
 * identity against the columns a delete must carry, and the slot.
 */
export function checkSource(catalog: Catalog, facts: SourceFacts): Finding[] {
  const findings: Finding[] = [];
  findings.push(
    facts.walLevel === 'logical'
      ? { level: 'ok', subject: 'wal_level', message: 'logical' }
      : {
          level: 'problem',
          subject: 'wal_level',
          message: `is '${facts.walLevel}'; logical decoding needs 'logical'`,
          fix: "ALTER SYSTEM SET wal_level = 'logical'; -- then restart PostgreSQL",
        },
  );

  // Columns a delete (or update) of each table must carry in its old row.
  const needs = new Map<string, { table: TableRef; columns: Map<string, string> }>();
  const need = (table: TableRef, column: string, path: string) => {
    const entry = needs.get(tableKey(table)) ?? { table, columns: new Map<string, string>() };
    if (!entry.columns.has(column)) entry.columns.set(column, path);
    needs.set(tableKey(table), entry);
  };
  for (const subject of catalog.subjects) {
    for (const column of subject.key) need(subject.table, column, `${subject.path}.key`);
    for (const rule of subject.erasedWhen) {
      if (rule.kind === 'update') {
        const table = facts.tables.get(tableKey(subject.table));
        if (table?.exists && !table.columns.has(rule.column)) {
          findings.push({ level: 'problem', subject: `${subject.path}.erasedWhen`, message: `no column ${displayIdent(rule.column)} in ${formatQualifiedName(subject.table)}` });
        }
      }
    }
    for (const related of subject.related) {
      for (const column of related.subjectColumns) need(related.table, column, `${related.path}.subjectColumn`);
    }
  }

  for (const { table: ref, roles } of catalog.tables()) {
    const name = formatQualifiedName(ref);
    const facts_ = facts.tables.get(tableKey(ref));
    if (!facts_?.exists) {
      for (const role of roles) findings.push({ level: 'problem', subject: role.path, message: `no such table ${name}` });
      continue;
    }
    const required = needs.get(tableKey(ref))?.columns ?? new Map<string, string>();
    const missingColumns = [...required].filter(([column]) => !facts_.columns.has(column));
    for (const [column, path] of missingColumns) {
      findings.push({ level: 'problem', subject: path, message: `no column ${displayIdent(column)} in ${name}` });
    }
    const uncovered = [...required.keys()].filter((c) => facts_.columns.has(c) && !facts_.identityColumns.has(c));
    if (uncovered.length > 0) {
      findings.push({
        level: 'problem',
        subject: name,
        message: `replica identity (${identityName(facts_.replicaIdentity)}) does not carry ${uncovered.map(displayIdent).join(', ')}, so a delete cannot name its subject`,
        fix: `ALTER TABLE ${sqlTable(ref)} REPLICA IDENTITY FULL;`,
      });
    } else if (missingColumns.length === 0) {
      findings.push({ level: 'ok', subject: name, message: `replica identity ${identityName(facts_.replicaIdentity)} carries ${[...required.keys()].map(displayIdent).join(', ')}` });
    }
  }

  const pubName = quoteIdent(catalog.source.publication);
  const existing = catalog.tables().filter((t) => facts.tables.get(tableKey(t.table))?.exists);
  if (!facts.publication.exists) {
    findings.push({
      level: 'problem',
      subject: `publication ${catalog.source.publication}`,
      message: 'does not exist',
      fix: `CREATE PUBLICATION ${pubName} FOR TABLE ${existing.map((t) => sqlTable(t.table)).join(', ')};`,
      initFixes: true,
    });
  } else {
    const missing = existing.filter((t) => !facts.publication.tables.has(tableKey(t.table)));
    if (missing.length > 0) {
      findings.push({
        level: 'problem',
        subject: `publication ${catalog.source.publication}`,
        message: `does not cover ${missing.map((t) => formatQualifiedName(t.table)).join(', ')}`,
        fix: `ALTER PUBLICATION ${pubName} ADD TABLE ${missing.map((t) => sqlTable(t.table)).join(', ')};`,
        initFixes: true,
      });
    }
    const { update, delete: del, truncate } = facts.publication.publishes;
    if (!update || !del || !truncate) {
      findings.push({
        level: 'problem',
        subject: `publication ${catalog.source.publication}`,
        message: 'must publish update, delete and truncate',
        fix: `ALTER PUBLICATION ${pubName} SET (publish = 'insert, update, delete, truncate');`,
        initFixes: true,
      });
    }
    if (missing.length === 0 && update && del && truncate) {
      findings.push({ level: 'ok', subject: `publication ${catalog.source.publication}`, message: `covers ${existing.length} catalogued table(s)` });
    }
  }

  const slot = facts.slot;
  if (!slot) {
    findings.push({
      level: 'problem',
      subject: `slot ${catalog.source.slot}`,
      message: 'does not exist',
      fix: `SELECT pg_create_logical_replication_slot('${catalog.source.slot}', 'pgoutput');`,
      initFixes: true,
    });
  } else if (slot.plugin !== 'pgoutput') {
    findings.push({ level: 'problem', subject: `slot ${catalog.source.slot}`, message: `uses plugin ${slot.plugin}, Lethe needs pgoutput` });
  } else if (slot.walStatus === 'lost') {
    findings.push({ level: 'problem', subject: `slot ${catalog.source.slot}`, message: 'was invalidated (wal_status lost): erasures in the lost WAL were never read' });
  } else {
    findings.push({
      level: slot.retainedBytes > SLOT_LAG_WARNING_BYTES ? 'warn' : 'ok',
      subject: `slot ${catalog.source.slot}`,
      message: `${slot.active ? 'active' : 'inactive'}, confirmed ${slot.confirmedFlushLsn}, retains ${formatBytes(slot.retainedBytes)} of WAL`,
    });
  }
  return findings;
}

function identityName(code: string | undefined): string {
  return { d: 'DEFAULT (primary key)', n: 'NOTHING', f: 'FULL', i: 'USING INDEX' }[code ?? ''] ?? 'unknown';
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
