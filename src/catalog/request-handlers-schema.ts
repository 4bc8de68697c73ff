import { z } from 'zod';
import { IdentifierError, parseColumnName } from './identifiers.js';
import { bqReplacement, type BqReplacementFile } from './sinks-schema.js';
import { columnName, tableName } from './zod-identifier.js';

/**
 * The parts of a subject the privacy requests read: `identities` (how a request's identity, such
 * as an email address, finds the subject on its root table) and `onRequest` (how a request erases
 * the subject in the primary, per table). Replacements are the BigQuery anonymize strategies,
 * parsed by the same parser; the rules that span entries are in request-handlers.ts.
 */

const IDENTITY_KIND = /^[a-z][a-z0-9_]{0,39}$/;

const identity = z.object({ column: columnName, caseInsensitive: z.boolean().default(false) }).strict();

export const identitiesSchema = z
  .record(z.string().regex(IDENTITY_KIND, 'an identity kind is a lower-case letter, then lower-case letters, digits or _ (email, phone)'), identity)
  .default({});

/** One column, or a non-empty list of them (a composite key), as `related[].subjectColumn`. */
const subjectColumns = z
  .union([columnName.transform((c) => [c]), z.array(columnName).min(1, 'needs at least one column')])
  .refine((list) => new Set(list).size === list.length, 'a column is listed twice');

export type RequestActionFile =
  | { kind: 'delete' }
  | { kind: 'anonymize'; columns: Record<string, BqReplacementFile> }
  | { kind: 'keep'; reason: string };

const ACTION_FORMS = 'delete, { anonymize: { <column>: <strategy>, … } } (strategies: null, hash, hmac, { literal: <value> }), or { keep: "<reason>" }';

/**
 * Not a union, so an error says which column's replacement is wrong. Column names follow
 * PostgreSQL's rules (`'"ShippingAddress"': null` keeps its case); two spellings of one column are
 * refused.
 */
const requestAction = z.unknown().transform((value, ctx): RequestActionFile => {
  if (value === 'delete') return { kind: 'delete' };
  const only = typeof value === 'object' && value !== null && !Array.isArray(value) ? Object.keys(value) : [];
  if (only.length === 1 && only[0] === 'keep') {
    const reason = (value as { keep: unknown }).keep;
    if (typeof reason === 'string' && reason.trim() !== '') return { kind: 'keep', reason };
    ctx.addIssue({ code: 'custom', path: ['keep'], message: 'keep needs its reason as text (keep: "tax law: invoices are kept 10 years")' });
    return z.NEVER;
  }
  if (only.length !== 1 || only[0] !== 'anonymize') {
    ctx.addIssue({ code: 'custom', message: `an onRequest action is ${ACTION_FORMS}` });
    return z.NEVER;
  }
  const raw = (value as { anonymize: unknown }).anonymize;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || Object.keys(raw).length === 0) {
    ctx.addIssue({ code: 'custom', path: ['anonymize'], message: 'anonymize names its columns: { <column>: <strategy>, … }' });
    return z.NEVER;
  }
  const columns: Record<string, BqReplacementFile> = {};
  let failed = false;
  for (const [text, replacement] of Object.entries(raw)) {
    const path = ['anonymize', text];
    let column: string;
    try {
      column = parseColumnName(text);
    } catch (error) {
      ctx.addIssue({ code: 'custom', path, message: `not a column name: ${(error as IdentifierError).message}` });
      failed = true;
      continue;
    }
    if (column in columns) {
      ctx.addIssue({ code: 'custom', path, message: `names column ${column} a second time` });
      failed = true;
      continue;
    }
    const parsed = bqReplacement.safeParse(replacement);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', path, message: issue.message });
      failed = true;
      continue;
    }
    columns[column] = parsed.data;
  }
  return failed ? z.NEVER : { kind: 'anonymize', columns };
});

/** The root table's entry has no subjectColumn: it is matched by the subject's key. */
const requestHandler = z.object({ table: tableName, subjectColumn: subjectColumns.optional(), action: requestAction }).strict();

export const onRequestSchema = z.array(requestHandler).default([]);
