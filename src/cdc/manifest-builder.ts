import type { ErasureRule, SubjectType } from '../catalog/catalog.js';
import { displayIdent, formatQualifiedName } from '../catalog/identifiers.js';
import { LetheError } from '../errors.js';
import type { CatalogIndex } from './catalog-index.js';
import type { DecodedChange, DecodedTransaction, RowValues } from './decoded-transaction.js';
import { eventIdOf, subjectIdOf, type ErasureManifest, type KeyColumn, type RelatedRow } from './erasure-manifest.js';
import { readRequestMessages, type RequestedSubject } from './request-message.js';

export { REQUEST_MESSAGE_PREFIX } from './request-message.js';

/** Something in a transaction Lethe could not turn into an erasure and must report. */
export interface FoldWarning {
  code: 'SUBJECT_KEY_NULL' | 'BAD_REQUEST_MESSAGE' | 'TRUNCATE';
  table?: string;
  subjectType?: string;
  message: string;
}

export interface FoldResult {
  manifests: ErasureManifest[];
  /**
   * Rows of related tables deleted (or detached) in a transaction that erased no subject they
   * belong to: a message deleted while its sender stays. Not a subject erasure; counted only.
   */
  unattachedRelatedRows: number;
  warnings: FoldWarning[];
}

/**
 * A committed change that erases a subject (or a related delete) without the columns that name
 * the subject: the table's replica identity changed after the reader checked it at start. The
 * reader fails its session on it, so the slot is never confirmed past the commit; retriable,
 * since a new session reads the transaction again from the slot. No row contents: names and LSNs.
 */
export class ErasureNotReadableError extends LetheError {
  readonly table: string;
  readonly subjectType: string;
  readonly columns: string[];
  readonly xid: number;
  readonly commitLsn: string;
  readonly commitEndLsn: string;

  constructor(tx: DecodedTransaction, change: DecodedChange, subjectType: string, columns: string[]) {
    const table = formatQualifiedName(change.table);
    super(
      'ERASURE_NOT_READABLE',
      `a ${change.kind} of ${table} in transaction ${tx.xid} (commit ${tx.commitLsn}) does not carry ` +
        `${columns.map(displayIdent).join(', ')}, which name its ${subjectType}: the table's replica identity no ` +
        `longer holds them. The slot stays before this commit; to go on, set REPLICA IDENTITY FULL on ${table}, ` +
        `erase this transaction's subjects by hand and advance the slot to ${tx.commitEndLsn}`,
      { retriable: true },
    );
    this.table = table;
    this.subjectType = subjectType;
    this.columns = columns;
    this.xid = tx.xid;
    this.commitLsn = tx.commitLsn;
    this.commitEndLsn = tx.commitEndLsn;
  }
}

/**
 * What one change (or a request's message) adds to its transaction's fold: a subject erased by
 * its root row, or a related row that left a subject. Each names its subject, so the fold of one
 * subject needs only that subject's contributions (transaction-fold.ts folds a large transaction
 * in buckets of subjects). Plain data: it can be written to a file and read back.
 */
export type Contribution =
  | { kind: 'root'; subjectType: string; subjectId: string; key: KeyColumn[]; operation: 'DELETE' | 'ANONYMIZE'; sourceTable: string }
  | { kind: 'related'; subjectType: string; subjectId: string; row: RelatedRow };

/** A change whose row does not carry the columns that name its subject (see ErasureNotReadableError). */
export interface UnreadableChange {
  change: DecodedChange;
  subjectType: string;
  columns: string[];
}

/** A subject's fold key: one map entry per subject type and id. */
export const foldKeyOf = (subjectType: string, subjectId: string) => `${subjectType}\u0000${subjectId}`;

/**
 * Folds one committed transaction into one manifest per erased subject. Pure.
 *
 * - A root row deleted, when the subject's rules include `delete`, erases the subject (DELETE).
 * - A root row updated so that an `update` rule's condition holds (and did not hold before, when
 *   the old row is known) anonymizes it (ANONYMIZE). Both in one transaction: DELETE wins.
 * - A subject a request's logical message names (request-message.ts) is erased with the
 *   message's operation even when its root row did not change (a kept root, or a transaction of
 *   related tables only), once: merged with a root change of the same subject, DELETE winning.
 * - Rows of related tables deleted in the same transaction (ON DELETE CASCADE included), or
 *   updated away from the subject when the old row is known, are attached to the manifest of the
 *   subject their subject columns name. Related rows whose subject was not erased in this
 *   transaction are a user's ordinary deletes, not an erasure: they are counted, not published.
 * - A change that erases a subject, or a related delete, whose row does not carry the columns
 *   that name the subject (its replica identity no longer holds them) throws
 *   ErasureNotReadableError. Failing, not publishing the rest, is deliberate: the reader's session
 *   ends before this commit is confirmed, so the transaction stays in the slot and the erasure is
 *   never silently dropped. (A column that is carried but NULL names no subject: a root with a
 *   NULL key is reported as a warning, a related row with one belongs to no subject.)
 */
export function foldTransaction(tx: DecodedTransaction, index: CatalogIndex): FoldResult {
  const warnings: FoldWarning[] = [];
  const contributions: Contribution[] = [];
  for (const change of tx.changes) {
    const unreadable = contributionsOf(change, index, contributions, warnings);
    if (unreadable) throw new ErasureNotReadableError(tx, unreadable.change, unreadable.subjectType, unreadable.columns);
  }
  const request = readRequestMessages(tx.messages);
  contributions.push(...requestedContributions(request, index, warnings));
  truncateWarnings(tx, index, warnings);
  const { manifests, unattachedRelatedRows } = foldContributions(contributions, tx, request.requestId);
  return { manifests, unattachedRelatedRows, warnings };
}

/**
 * What one change contributes, appended to `out`; a root whose key is NULL is a warning. Returns
 * the change, instead of contributing, when its row does not carry the columns naming its subject.
 */
export function contributionsOf(change: DecodedChange, index: CatalogIndex, out: Contribution[], warnings: FoldWarning[]): UnreadableChange | undefined {
  const roles = index.lookup(change.table);
  if (!roles) return undefined;
  for (const subject of roles.roots) {
    const operation = erasureOperation(subject.erasedWhen, change);
    if (!operation) continue;
    const source = change.kind === 'delete' ? change.old : (change.new ?? change.old);
    const values = pick(subject.key, source) ?? pick(subject.key, change.old);
    if (!values) {
      const notCarried = subject.key.filter((column) => !carries(source, column) && !carries(change.old, column));
      if (notCarried.length > 0) return { change, subjectType: subject.type, columns: notCarried };
      warnings.push({
        code: 'SUBJECT_KEY_NULL',
        table: formatQualifiedName(subject.table),
        subjectType: subject.type,
        message: `a ${change.kind} of ${formatQualifiedName(subject.table)} erased a ${subject.type} whose key (${subject.key.map(displayIdent).join(', ')}) is NULL: no event can name it`,
      });
      continue;
    }
    out.push(rootOf(subject, values, operation));
  }
  for (const { subject, related } of roles.related) {
    const operation = relatedOperation(change, related.subjectColumns);
    if (!operation) continue;
    const values = pick(related.subjectColumns, change.old);
    if (!values) {
      // An update only gets here with its subject columns carried; a delete may not have them.
      const notCarried = related.subjectColumns.filter((column) => !carries(change.old, column));
      if (notCarried.length > 0) return { change, subjectType: subject.type, columns: notCarried };
      continue;
    }
    // The row's primary key, and only that: an event is kept as long as the erasure log, so
    // no other column (an identity index on an email, a FULL identity's row) may enter it.
    // Without a primary key, or an old row that does not carry it, the row is listed keyless:
    // a sink template that needs its key reports it failed rather than guessing.
    const key = roles.rowKey && pick(roles.rowKey, change.old) ? roles.rowKey.map((column) => ({ column, value: change.old![column]! })) : [];
    out.push({ kind: 'related', subjectType: subject.type, subjectId: subjectIdOf(values), row: { table: formatQualifiedName(change.table), key, operation } });
  }
  return undefined;
}

/** The subjects a request's messages name, as root contributions; a malformed one is a warning. */
export function requestedContributions(request: ReturnType<typeof readRequestMessages>, index: CatalogIndex, warnings: FoldWarning[]): Contribution[] {
  for (const message of request.problems) warnings.push({ code: 'BAD_REQUEST_MESSAGE', message });
  return request.subjects.flatMap((requested) => requestedContribution(requested, index, warnings) ?? []);
}

/** A warning for each catalogued table the transaction truncated: a truncate names no rows. */
export function truncateWarnings(tx: Pick<DecodedTransaction, 'truncatedTables' | 'commitLsn'>, index: CatalogIndex, warnings: FoldWarning[]): void {
  for (const table of tx.truncatedTables) {
    if (!index.has(table)) continue;
    warnings.push({
      code: 'TRUNCATE',
      table: formatQualifiedName(table),
      message:
        `TRUNCATE of catalogued table ${formatQualifiedName(table)} at ${tx.commitLsn}: every subject in it may ` +
        'be gone, but a truncate names no rows, so no erasure events were published for it',
    });
  }
}

/**
 * The manifests of contributions given in transaction order (a request's after the changes): one
 * per subject a root change or request erased, in the order each was first erased, DELETE winning
 * over ANONYMIZE, with its related rows in order; related rows of no erased subject are counted.
 */
export function foldContributions(
  contributions: Iterable<Contribution>,
  tx: Pick<DecodedTransaction, 'commitLsn' | 'commitTime' | 'xid'>,
  requestId: string | null,
): { manifests: ErasureManifest[]; unattachedRelatedRows: number } {
  const bySubject = new Map<string, ErasureManifest>();
  const related: Array<Extract<Contribution, { kind: 'related' }>> = [];
  for (const c of contributions) {
    if (c.kind === 'related') {
      related.push(c);
      continue;
    }
    const id = foldKeyOf(c.subjectType, c.subjectId);
    const existing = bySubject.get(id);
    if (existing) {
      if (c.operation === 'DELETE') existing.operation = 'DELETE';
      continue;
    }
    bySubject.set(id, {
      eventId: eventIdOf(tx.commitLsn, c.subjectType, c.subjectId),
      subjectType: c.subjectType,
      subjectId: c.subjectId,
      subjectKey: c.key,
      operation: c.operation,
      sourceTable: c.sourceTable,
      commitLsn: tx.commitLsn,
      commitTime: tx.commitTime,
      xid: tx.xid,
      requestId,
      related: [],
    });
  }
  let unattachedRelatedRows = 0;
  for (const c of related) {
    const manifest = bySubject.get(foldKeyOf(c.subjectType, c.subjectId));
    if (manifest) manifest.related.push(c.row);
    else unattachedRelatedRows += 1;
  }
  return { manifests: [...bySubject.values()], unattachedRelatedRows };
}

function rootOf(subject: SubjectType, values: readonly string[], operation: 'DELETE' | 'ANONYMIZE'): Contribution {
  return {
    kind: 'root',
    subjectType: subject.type,
    subjectId: subjectIdOf(values),
    key: subject.key.map((column, i) => ({ column, value: values[i]! })),
    operation,
    sourceTable: formatQualifiedName(subject.table),
  };
}

function erasureOperation(rules: readonly ErasureRule[], change: DecodedChange): 'DELETE' | 'ANONYMIZE' | undefined {
  if (change.kind === 'delete') return rules.some((r) => r.kind === 'delete') ? 'DELETE' : undefined;
  if (change.kind !== 'update' || !change.new) return undefined;
  for (const rule of rules) {
    if (rule.kind !== 'update') continue;
    const now = change.new[rule.column];
    if (now === undefined || !conditionHolds(rule.becomes, now)) continue;
    // Without the old row (no REPLICA IDENTITY FULL) a repeated update of an already anonymized
    // row is published again; consumers are idempotent, so that costs a redundant event, not data.
    const before = change.old?.[rule.column];
    if (change.old && before !== undefined && conditionHolds(rule.becomes, before)) continue;
    return 'ANONYMIZE';
  }
  return undefined;
}

function conditionHolds(becomes: Extract<ErasureRule, { kind: 'update' }>['becomes'], value: string | null): boolean {
  switch (becomes.kind) {
    case 'not_null':
      return value !== null;
    case 'null':
      return value === null;
    case 'equals':
      return value !== null && value === textOf(becomes.value);
    default:
      return false;
  }
}

/** The catalog's literal in PostgreSQL's text form, as pgoutput sends values. */
function textOf(value: string | number | boolean): string {
  if (typeof value === 'boolean') return value ? 't' : 'f';
  return String(value);
}

/** A related row leaves its subject when deleted, or when updated away from it (old row known). */
function relatedOperation(change: DecodedChange, subjectColumns: readonly string[]): 'DELETE' | 'UPDATE' | undefined {
  if (change.kind === 'delete') return 'DELETE';
  if (change.kind !== 'update' || !change.old || !change.new) return undefined;
  const before = pick(subjectColumns, change.old);
  const after = pick(subjectColumns, change.new);
  if (!before) return undefined;
  return after && after.every((v, i) => v === before[i]) ? undefined : 'UPDATE';
}

/**
 * Whether the old (or new) row carries `column` at all. pgoutput sends NULL as null; a column
 * outside the replica identity is absent from a key-only old row (undefined).
 */
function carries(row: RowValues | null | undefined, column: string): boolean {
  return row !== null && row !== undefined && row[column] !== undefined;
}

/** The values of `columns` in `row`, or undefined when any is absent or NULL. */
function pick(columns: readonly string[], row: RowValues | null | undefined): string[] | undefined {
  if (!row) return undefined;
  const values: string[] = [];
  for (const column of columns) {
    const value = row[column];
    if (value === undefined || value === null) return undefined;
    values.push(value);
  }
  return values;
}

/** A subject named by a request's message, as the contribution a root change of it would make. */
function requestedContribution(requested: RequestedSubject, index: CatalogIndex, warnings: FoldWarning[]): Contribution | undefined {
  const subject = index.subject(requested.type);
  const given = Object.keys(requested.key);
  if (!subject || given.length !== subject.key.length || subject.key.some((c) => requested.key[c] === undefined)) {
    warnings.push({
      code: 'BAD_REQUEST_MESSAGE',
      ...(subject ? { subjectType: subject.type } : {}),
      message: subject
        ? `a request's logical message names a ${subject.type} by ${given.map(displayIdent).join(', ')}, not by its key (${subject.key.map(displayIdent).join(', ')}); it was ignored`
        : `a request's logical message names subject type ${requested.type}, which the catalog does not have; it was ignored`,
    });
    return undefined;
  }
  return rootOf(subject, subject.key.map((c) => requested.key[c]!), requested.operation);
}
