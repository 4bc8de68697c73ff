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
  /**
   * The catalog entries this problem leaves unable to name a subject in a delete. The CDC reader
   * refuses to start while any is set: it would otherwise drop those erasures.
   */
  catalogPaths?: string[];
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

  // Columns a delete (or update) of each table must carry in its old row, and the catalog entries
  // that need each. A root's key is read from the old row only when a delete erases the subject:
  // an update rule reads it from the new row, which always carries every column.
  const needs = new Map<string, { table: TableRef; columns: Map<string, string[]> }>();
  const need = (table: TableRef, column: string, path: string) => {
    const entry = needs.get(tableKey(table)) ?? { table, columns: new Map<string, string[]>() };
    entry.columns.set(column, [...(entry.columns.get(column) ?? []), path]);
    needs.set(tableKey(table), entry);
  };
  for (const subject of catalog.subjects) {
    if (subject.erasedWhen.some((rule) => rule.kind === 'delete')) {
      for (const column of subject.key) need(subject.table, column, `${subject.path}.key`);
    }
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
      // A declared key is what events carry of a related row: it must be the primary key, and a
      // delete must carry it.
      for (const column of related.rowKey ?? []) need(related.table, column, `${related.path}.key`);
      const table = facts.tables.get(tableKey(related.table));
      if (related.rowKey && table?.exists) {
        const declared = related.rowKey;
        const actual = table.primaryKey;
        if (actual.length === 0) {
          findings.push({
            level: 'problem',
            subject: `${related.path}.key`,
            message: `${formatQualifiedName(related.table)} has no primary key: events name a related row by its primary key only, so its rows cannot be named`,
            fix: `ALTER TABLE ${sqlTable(related.table)} ADD PRIMARY KEY (${declared.map(quoteIdent).join(', ')});`,
          });
        } else if (actual.length !== declared.length || actual.some((c) => !declared.includes(c))) {
          findings.push({
            level: 'problem',
            subject: `${related.path}.key`,
            message: `declares (${declared.map(displayIdent).join(', ')}) but the primary key of ${formatQualifiedName(related.table)} is (${actual.map(displayIdent).join(', ')}); events carry the primary key only`,
          });
        }
      }
    }
  }

  for (const { table: ref, roles } of catalog.tables()) {
    const name = formatQualifiedName(ref);
    const facts_ = facts.tables.get(tableKey(ref));
    if (!facts_?.exists) {
      for (const role of roles) findings.push({ level: 'problem', subject: role.path, message: `no such table ${name}` });
      continue;
    }
    const required = needs.get(tableKey(ref))?.columns ?? new Map<string, string[]>();
    const present = [...required.keys()].filter((c) => facts_.columns.has(c));
    for (const [column, paths] of required) {
      if (facts_.columns.has(column)) continue;
      for (const path of paths) findings.push({ level: 'problem', subject: path, message: `no column ${displayIdent(column)} in ${name}` });
    }
    // A partition's delete carries what the partition's own identity holds, and is sent in the
    // format of the root's identity (pgoutput with publish_via_partition_root): both must carry.
    const holders = [facts_, ...facts_.partitions];
    const short = holders
      .map((holder) => ({ holder, uncovered: present.filter((c) => !holder.identityColumns.has(c)) }))
      .filter((h) => h.uncovered.length > 0);
    if (short.length > 0) {
      const uncovered = present.filter((c) => short.some((h) => h.uncovered.includes(c)));
      const which = short
        .map(({ holder }) => `${holder === facts_ ? '' : `partition ${formatQualifiedName(holder.table)}: `}${identityName(holder.replicaIdentity)}`)
        .join('; ');
      findings.push({
        level: 'problem',
        subject: name,
        message: `replica identity (${which}) does not carry ${uncovered.map(displayIdent).join(', ')}, so a delete cannot name its subject`,
        fix: short.map(({ holder }) => `ALTER TABLE ${sqlTable(holder.table)} REPLICA IDENTITY FULL;`).join(' '),
        catalogPaths: [...new Set(uncovered.flatMap((c) => required.get(c) ?? []))],
      });
    } else if (present.length === required.size) {
      const message = required.size === 0
        ? 'erased by update only: a delete needs nothing from its replica identity'
        : `replica identity ${identityName(facts_.replicaIdentity)} carries ${present.map(displayIdent).join(', ')}`;
      findings.push({ level: 'ok', subject: name, message });
    }
  }

  const pubName = quoteIdent(catalog.source.publication);
  const existing = catalog.tables().filter((t) => facts.tables.get(tableKey(t.table))?.exists);
  if (!facts.publication.exists) {
    findings.push({
      level: 'problem',
      subject: `publication ${catalog.source.publication}`,
      message: 'does not exist',
      // Via the root: a partitioned table's changes then carry the name the catalog knows it by,
      // not each partition's (https://www.postgresql.org/docs/current/sql-createpublication.html).
      fix: `CREATE PUBLICATION ${pubName} FOR TABLE ${existing.map((t) => sqlTable(t.table)).join(', ')} WITH (publish_via_partition_root = true);`,
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
    const partitioned = existing.filter((t) => facts.tables.get(tableKey(t.table))?.partitioned);
    if (partitioned.length > 0 && !facts.publication.viaRoot) {
      findings.push({
        level: 'problem',
        subject: `publication ${catalog.source.publication}`,
        message:
          `publishes ${partitioned.map((t) => formatQualifiedName(t.table)).join(', ')} under each partition's name ` +
          '(publish_via_partition_root is off), so their deletes would not match the catalog',
        fix: `ALTER PUBLICATION ${pubName} SET (publish_via_partition_root = true);`,
        initFixes: true,
      });
    }
    if (missing.length === 0 && update && del && truncate && (partitioned.length === 0 || facts.publication.viaRoot)) {
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
