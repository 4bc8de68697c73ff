import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { CatalogError, type CatalogProblem } from './catalog-error.js';
import { catalogFileSchema, type CatalogFile } from './catalog-schema.js';
import { formatQualifiedName, tableKey, type TableRef } from './identifiers.js';
import { interpolate } from './interpolate.js';
import { resolveRequestParts } from './request-handlers.js';
import { resolveSinks, type BqReplacement, type SinksConfig } from './sinks.js';
import { resolveRequests, type RequestsConfig } from './requests-schema.js';
import { parseTokenList, TOKENS_ENV, type ApiToken } from '../tracker/api-tokens.js';

export type ErasureRule =
  | { kind: 'delete' }
  | {
      kind: 'update';
      column: string;
      becomes: { kind: 'not_null' } | { kind: 'null' } | { kind: 'equals'; value: string | number | boolean };
    };

export interface RelatedTable {
  table: TableRef;
  /** The columns holding the subject's key, in the order of the subject's key columns. */
  subjectColumns: string[];
  /** The table's primary key as the catalog declares it: the columns events carry of its rows. */
  rowKey?: string[];
  /** Where it is declared, e.g. `subjects.user.related[1]`. */
  path: string;
}

/** How a request's identity finds the subject: `column = value`, or compared in lower case. */
export interface Identity {
  kind: string;
  column: string;
  caseInsensitive: boolean;
  path: string;
}

/** What an anonymized column becomes: the BigQuery strategies (null, literal, hash, hmac). */
export type Replacement = BqReplacement;

/** How a privacy request erases the subject's rows of one table in the primary. */
export interface RequestHandler {
  table: TableRef;
  /** The columns matched against the subject's key, in key order: the key itself for the root. */
  subjectColumns: string[];
  /** Where it is declared, e.g. `subjects.user.onRequest[1]`. */
  path: string;
  action: { kind: 'delete' } | { kind: 'anonymize'; columns: Record<string, Replacement> } | { kind: 'keep'; reason: string };
}

export interface SubjectType {
  type: string;
  table: TableRef;
  key: string[];
  erasedWhen: ErasureRule[];
  related: RelatedTable[];
  identities: Identity[];
  onRequest: RequestHandler[];
  path: string;
}

export interface CatalogTable {
  table: TableRef;
  roles: Array<{ subject: string; role: 'root' | 'related'; path: string }>;
}

/** A system erased by hand: stays pending until its owner confirms. */
export interface ManualSystem {
  name: string;
  owner: string;
  action: string;
  /** The subject types it holds; all when the catalog does not say. */
  subjects?: string[];
}

/** A backup: never edited, it holds the data until `retentionMs` after the erasure. */
export interface Backup {
  name: string;
  retentionMs: number;
  onRestore?: string;
  subjects?: string[];
}

const DEFAULT_ERASURES = 'lethe.subject-erased';

/**
 * The topics of a deployment. Acks and statuses not named follow the erasures topic: a second
 * deployment with its own erasures topic gets its own acks and status topics too, so its tracker
 * never stores another deployment's acks as erasures it will wait for forever.
 */
export function topicsOf(topics: { erasures: string; acks?: string | undefined; status?: string | undefined }): { erasures: string; acks: string; status: string } {
  const byDefault = topics.erasures === DEFAULT_ERASURES;
  return {
    erasures: topics.erasures,
    acks: topics.acks ?? (byDefault ? 'lethe.acks' : `${topics.erasures}.acks`),
    status: topics.status ?? (byDefault ? 'lethe.erasure-status' : `${topics.erasures}.status`),
  };
}

/** The resolved, validated catalog. */
export interface Catalog {
  source: { url: string; publication: string; slot: string; heartbeatIntervalMs: number; ackIntervalMs: number };
  kafka: {
    brokers: string[];
    schemaRegistry: string;
    topics: { erasures: string; acks: string; status: string };
    groupPrefix?: string;
    replication: { factor: number; minInsyncReplicas: number };
    /** The largest record batch Lethe sends; a larger erasure goes out in parts. */
    maxMessageBytes: number;
  };
  subjects: SubjectType[];
  sinks: SinksConfig;
  /** The key `hmac` replacements use, by id; its secret is read from the environment, never kept here. */
  pseudonymization?: { hmacKey: string };
  /** How privacy requests are taken and answered (defaults when the catalog has no `requests`). */
  requests: RequestsConfig;
  manual: ManualSystem[];
  backups: Backup[];
  tracker: {
    slaMs: number;
    host: string;
    port: number;
    overdueCheckMs: number;
    database: string;
    schema: string;
    /** The API's tokens: the catalog's tracker.tokens and those in LETHE_API_TOKENS. */
    tokens: ApiToken[];
    allowedHosts: string[];
    /** Proxies whose X-Forwarded-For is believed (addresses or CIDR ranges). */
    trustProxy: string[];
    tls?: { cert: string; key: string };
  };
  /** Every catalogued table once, roots and related, with who refers to it. */
  tables(): CatalogTable[];
}

export const DEFAULT_CATALOG_PATH = 'lethe.config.yaml';

/** Reads and validates a catalog file; every problem is reported at once, with its path. */
export async function loadCatalog(path: string, env: Record<string, string | undefined> = process.env): Promise<Catalog> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
    throw new CatalogError(path, [{ path: '', message: reason }]);
  }
  return parseCatalog(text, env, path);
}

export function parseCatalog(text: string, env: Record<string, string | undefined>, origin = 'catalog'): Catalog {
  const document = parseDocument(text, { prettyErrors: true });
  if (document.errors.length > 0) {
    throw new CatalogError(
      origin,
      document.errors.map((e) => ({ path: '', message: `YAML: ${e.message.split('\n')[0]}` })),
    );
  }
  const interpolated = interpolate(document.toJS(), env);
  const parsed = catalogFileSchema.safeParse(interpolated.value);
  const problems: CatalogProblem[] = [...interpolated.problems];
  if (!parsed.success) problems.push(...parsed.error.issues.map(toProblem));
  if (!parsed.success) throw new CatalogError(origin, dedupe(problems));
  problems.push(...crossChecks(parsed.data));
  const catalog = resolve(parsed.data, problems, env);
  if (problems.length > 0) throw new CatalogError(origin, dedupe(problems));
  return catalog;
}

function toProblem(issue: z.core.$ZodIssue): CatalogProblem {
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
  // A union without its own message (each names its accepted forms) falls back to a generic one.
  if (issue.code === 'invalid_union' && message === 'Invalid input') message = 'not one of the accepted forms';
  return { path: formatPath(issue.path), message };
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** Rules that span entries: key arity, one root per table, no table related to itself. */
function crossChecks(file: CatalogFile): CatalogProblem[] {
  const problems: CatalogProblem[] = [];
  const roots = new Map<string, string>();
  for (const [type, subject] of Object.entries(file.subjects)) {
    const key = tableKey(subject.table);
    const other = roots.get(key);
    if (other) {
      problems.push({
        path: `subjects.${type}.table`,
        message: `${formatQualifiedName(subject.table)} is already the root table of subject ${other}`,
      });
    } else {
      roots.set(key, type);
    }
    subject.related.forEach((related, i) => {
      if (tableKey(related.table) === key) {
        problems.push({ path: `subjects.${type}.related[${i}].table`, message: 'a subject\'s root table cannot also be related to it' });
      }
      if (related.subjectColumn.length !== subject.key.length) {
        problems.push({
          path: `subjects.${type}.related[${i}].subjectColumn`,
          message: `names ${related.subjectColumn.length} column(s) but the subject's key has ${subject.key.length} (${subject.key.join(', ')})`,
        });
      }
    });
  }
  const types = new Set(Object.keys(file.subjects));
  const names = new Map<string, string>();
  for (const [section, list] of [['manual', file.manual], ['backups', file.backups]] as const) {
    list.forEach((entry, i) => {
      const other = names.get(entry.name);
      if (other) problems.push({ path: `${section}[${i}].name`, message: `${entry.name} is already the name of ${other}` });
      else names.set(entry.name, `${section}[${i}]`);
      entry.subjects?.forEach((type, j) => {
        if (!types.has(type)) problems.push({ path: `${section}[${i}].subjects[${j}]`, message: `no subject type ${type} in subjects` });
      });
    });
  }
  return problems;
}

/** The catalog's tokens and the environment's; a name used twice is a problem either way. */
function apiTokens(fromFile: ApiToken[], fromEnv: string | undefined, problems: CatalogProblem[]): ApiToken[] {
  const parsed = parseTokenList(fromEnv ?? '');
  for (const p of parsed.problems) problems.push({ path: `(environment ${TOKENS_ENV})`, message: p });
  const names = new Set(fromFile.map((t) => t.name));
  for (const t of parsed.tokens) {
    if (names.has(t.name)) problems.push({ path: `(environment ${TOKENS_ENV})`, message: `${t.name} is already the name of another token` });
    names.add(t.name);
  }
  return [...fromFile, ...parsed.tokens];
}

function dedupe(problems: CatalogProblem[]): CatalogProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const id = `${p.path}\u0000${p.message}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

function resolve(file: CatalogFile, problems: CatalogProblem[], env: Record<string, string | undefined>): Catalog {
  const subjects: SubjectType[] = Object.entries(file.subjects).map(([type, s]) => ({
    type,
    table: s.table,
    key: s.key,
    erasedWhen: s.erasedWhen,
    related: s.related.map((r, i) => ({ table: r.table, subjectColumns: r.subjectColumn, ...(r.key ? { rowKey: r.key } : {}), path: `subjects.${type}.related[${i}]` })),
    ...resolveRequestParts(type, s, file.pseudonymization?.hmacKey, problems),
    path: `subjects.${type}`,
  }));
  return {
    source: file.source,
    kafka: { ...file.kafka, topics: topicsOf(file.kafka.topics) },
    subjects,
    sinks: resolveSinks(file.sinks, new Map(subjects.map((s) => [s.type, s])), problems, file.pseudonymization),
    ...(file.pseudonymization ? { pseudonymization: file.pseudonymization } : {}),
    requests: resolveRequests(file.requests),
    manual: file.manual.map((m) => ({ name: m.name, owner: m.owner, action: m.action, ...(m.subjects ? { subjects: m.subjects } : {}) })),
    backups: file.backups.map((b) => ({
      name: b.name,
      retentionMs: b.retention,
      ...(b.onRestore ? { onRestore: b.onRestore } : {}),
      ...(b.subjects ? { subjects: b.subjects } : {}),
    })),
    tracker: {
      slaMs: file.tracker.sla,
      host: file.tracker.host,
      port: file.tracker.port,
      overdueCheckMs: file.tracker.overdueCheckMs,
      database: file.tracker.database ?? file.source.url,
      schema: file.tracker.schema,
      tokens: apiTokens(file.tracker.tokens, env[TOKENS_ENV], problems),
      allowedHosts: file.tracker.allowedHosts,
      trustProxy: file.tracker.trustProxy,
      ...(file.tracker.tls ? { tls: file.tracker.tls } : {}),
    },
    tables() {
      const byKey = new Map<string, CatalogTable>();
      const add = (table: TableRef, role: CatalogTable['roles'][number]) => {
        const key = tableKey(table);
        const entry = byKey.get(key) ?? { table, roles: [] };
        entry.roles.push(role);
        byKey.set(key, entry);
      };
      for (const s of subjects) {
        add(s.table, { subject: s.type, role: 'root', path: `${s.path}.table` });
        for (const r of s.related) add(r.table, { subject: s.type, role: 'related', path: `${r.path}.table` });
      }
      return [...byKey.values()];
    },
  };
}
