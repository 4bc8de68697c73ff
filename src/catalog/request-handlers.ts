import type { CatalogProblem } from './catalog-error.js';
import type { ErasureRule, Identity, Replacement, RequestHandler } from './catalog.js';
import type { CatalogFile } from './catalog-schema.js';
import { displayIdent, formatQualifiedName, tableKey } from './identifiers.js';

/**
 * Resolves a subject's `identities` and `onRequest` and applies the rules that span entries: a
 * table listed twice, the root matched by the key (no subjectColumn) and every other table by a
 * subjectColumn of the key's arity, the root listed whenever onRequest is, a root anonymize that
 * the reader can see (an `erasedWhen` update rule, whose column Lethe sets and the anonymize must
 * not name; the key unchanged), `hmac` only with `pseudonymization.hmacKey`, and an identity
 * column named twice. Problems carry their catalog path.
 */

type SubjectFile = CatalogFile['subjects'][string];

export function resolveRequestParts(
  type: string,
  subject: SubjectFile,
  hmacKey: string | undefined,
  problems: CatalogProblem[],
): { identities: Identity[]; onRequest: RequestHandler[] } {
  const base = `subjects.${type}`;
  const identities: Identity[] = [];
  const byColumn = new Map<string, string>();
  for (const [kind, id] of Object.entries(subject.identities)) {
    const path = `${base}.identities.${kind}`;
    const other = byColumn.get(id.column);
    if (other !== undefined) problems.push({ path: `${path}.column`, message: `column ${displayIdent(id.column)} is already identity ${other}` });
    else byColumn.set(id.column, kind);
    identities.push({ kind, column: id.column, caseInsensitive: id.caseInsensitive, path });
  }

  const rootKey = tableKey(subject.table);
  const seen = new Map<string, string>();
  const onRequest: RequestHandler[] = subject.onRequest.map((entry, i) => {
    const path = `${base}.onRequest[${i}]`;
    const key = tableKey(entry.table);
    const other = seen.get(key);
    if (other !== undefined) problems.push({ path: `${path}.table`, message: `${formatQualifiedName(entry.table)} is already listed at ${other}` });
    else seen.set(key, path);
    const isRoot = key === rootKey;
    let subjectColumns = subject.key;
    if (isRoot && entry.subjectColumn) {
      problems.push({ path: `${path}.subjectColumn`, message: `the root table is matched by the subject's key (${subject.key.map(displayIdent).join(', ')}): leave subjectColumn out` });
    } else if (!isRoot && !entry.subjectColumn) {
      problems.push({ path: `${path}.subjectColumn`, message: `needs subjectColumn: the column(s) of ${formatQualifiedName(entry.table)} holding the subject's key` });
    } else if (!isRoot && entry.subjectColumn) {
      subjectColumns = entry.subjectColumn;
      if (subjectColumns.length !== subject.key.length) {
        problems.push({ path: `${path}.subjectColumn`, message: `names ${subjectColumns.length} column(s) but the subject's key has ${subject.key.length} (${subject.key.join(', ')})` });
      }
    }
    if (isRoot && entry.action.kind === 'anonymize') checkRootAnonymize(subject.key, subject.erasedWhen, Object.keys(entry.action.columns), path, problems);
    return { table: entry.table, subjectColumns, path, action: resolveAction(entry.action, hmacKey, path, problems) };
  });
  if (onRequest.length > 0 && !seen.has(rootKey)) {
    const root = formatQualifiedName(subject.table);
    problems.push({ path: `${base}.onRequest`, message: `does not say what a request does to the root table ${root}: add { table: ${root}, action: delete | { anonymize: … } | { keep: <reason> } }` });
  }
  return { identities, onRequest };
}

/** A root anonymize must show the reader an erasure, and must leave the subject's key alone. */
function checkRootAnonymize(key: string[], erasedWhen: readonly ErasureRule[], columns: string[], path: string, problems: CatalogProblem[]): void {
  const rule = erasedWhen.find((r) => r.kind === 'update');
  if (!rule) {
    problems.push({ path: `${path}.action`, message: 'anonymizing the root needs an erasedWhen update rule (update: { column: <column>, becomes: … }), which Lethe then sets so the CDC reader sees an erasure' });
  }
  for (const column of columns) {
    if (key.includes(column)) problems.push({ path: `${path}.action.anonymize.${column}`, message: `${displayIdent(column)} is the subject's key: changing it would name another subject` });
    else if (rule?.column === column) problems.push({ path: `${path}.action.anonymize.${column}`, message: `${displayIdent(column)} is the erasedWhen column, which Lethe sets itself` });
  }
}

function resolveAction(action: SubjectFile['onRequest'][number]['action'], hmacKey: string | undefined, path: string, problems: CatalogProblem[]): RequestHandler['action'] {
  if (action.kind !== 'anonymize') return action;
  const columns: Record<string, Replacement> = {};
  for (const [column, r] of Object.entries(action.columns)) {
    if (r.kind !== 'hmac') {
      columns[column] = r;
      continue;
    }
    if (hmacKey === undefined) {
      problems.push({ path: `${path}.action.anonymize.${column}`, message: 'hmac needs the key id: add pseudonymization: { hmacKey: <id> } (the key itself comes from LETHE_HMAC_KEY_<ID>)' });
    }
    columns[column] = { kind: 'hmac', keyId: hmacKey ?? '' };
  }
  return { kind: 'anonymize', columns };
}
