/**
 * Key templates name a subject's data in a store: `user:{subject}`, `session:{subject}:*`,
 * `order:{row.id}`, `acct:{key.tenant_id}:{key.AccountId}`. Placeholders:
 *
 * - `{subject}`: the subject's key value (for a composite key, the event's subject id: values
 *   percent-encoded and joined by '/');
 * - `{key.<column>}`: one column of the subject's key;
 * - `{row.<column>}`: one key column of a related row from the event's manifest.
 *
 * A `*` outside a placeholder makes the template a pattern (matched with SCAN, never KEYS).
 */
export interface TemplateValues {
  subject: string;
  key: Readonly<Record<string, string>>;
  row?: Readonly<Record<string, string>>;
}

const PLACEHOLDER = /\{([^{}]*)\}/g;

export class TemplateError extends Error {}

/** The placeholders a template uses; throws TemplateError for an unknown one. */
export function placeholders(template: string, allowRow: boolean): string[] {
  const names: string[] = [];
  for (const match of template.matchAll(PLACEHOLDER)) {
    const name = match[1]!;
    if (name === 'subject' || /^key\.[^.]+$/.test(name) || (allowRow && /^row\.[^.]+$/.test(name))) {
      names.push(name);
    } else {
      throw new TemplateError(
        `unknown placeholder {${name}} in "${template}" (known: {subject}, {key.<column>}${allowRow ? ', {row.<column>}' : ''})`,
      );
    }
  }
  if (template.replace(PLACEHOLDER, '').includes('{') || template.replace(PLACEHOLDER, '').includes('}')) {
    throw new TemplateError(`unbalanced braces in "${template}"`);
  }
  return names;
}

export function isPattern(template: string): boolean {
  return template.replace(PLACEHOLDER, '').includes('*');
}

/** The characters a Redis SCAN pattern gives a meaning (`*`, `?`, `[`…`]`). */
const GLOB = new Set(['*', '?', '[', ']']);

/** Where a template names a subject: `{subject}`, `{key.<column>}`, or for a related row `{row.<column>}`. */
export interface NarrowOptions {
  /** Whether the template is used as a SCAN pattern (a key template holding a `*`). */
  pattern: boolean;
  /** Whether `{row.<column>}` counts as naming the subject (a related row's template). */
  allowRow: boolean;
  /** False for a part that may be shared (a hash's key, when its field names the subject). */
  requireSubject?: boolean;
}

/**
 * Why a template could reach data of other subjects, or undefined when it cannot. A template must
 * name the subject (no placeholder: every erasure would hit one shared key); two placeholders
 * side by side are ambiguous (`{key.a}{key.b}`: 1+23 and 12+3 give one key); in a pattern, a glob
 * right before or after a placeholder runs past the value (`session:{subject}*`: subject 4
 * matches 42's keys), so a delimiter must stand between them. Pure; the catalog refuses these.
 */
export function wideningOf(template: string, options: NarrowOptions): string | undefined {
  const names = placeholders(template, options.allowRow);
  if (names.length === 0 && options.requireSubject !== false) {
    return `"${template}" names no subject: every erasure would reach the same data; use {subject}, {key.<column>}${options.allowRow ? ' or {row.<column>}' : ''}`;
  }
  for (const { name, before, after, next } of placeholderSpans(template)) {
    if (after === '' && next !== undefined) {
      return `"${template}": {${name}} and {${next}} stand side by side, so different values give the same text; put a delimiter between them`;
    }
    if (!options.pattern) continue;
    if (after !== '' && GLOB.has(after[0]!)) {
      return `"${template}": the ${after[0]} right after {${name}} runs past the value (for 4 it also matches 42); put a delimiter between them, e.g. {${name}}:${after}`;
    }
    if (before !== '' && GLOB.has(before.at(-1)!)) {
      return `"${template}": the ${before.at(-1)} right before {${name}} runs into the value (for 2 it also matches 42); put a delimiter between them`;
    }
  }
  return undefined;
}

const PLACEHOLDER_SPLIT = /\{([^{}]*)\}/;

/** One placeholder of a template, with the literal text on each side up to its neighbours. */
export interface PlaceholderSpan {
  name: string;
  before: string;
  after: string;
  /** Whether a placeholder comes before it, and the one after it, if any. */
  previous: boolean;
  next: string | undefined;
}

/** The placeholders of a template in order, each with the literals beside it. Pure. */
export function placeholderSpans(template: string): PlaceholderSpan[] {
  // split with a capture group alternates: literal, placeholder, literal, …
  const parts = template.split(PLACEHOLDER_SPLIT);
  const spans: PlaceholderSpan[] = [];
  for (let i = 1; i < parts.length; i += 2) spans.push({ name: parts[i]!, before: parts[i - 1]!, after: parts[i + 1]!, previous: i > 1, next: parts[i + 2] });
  return spans;
}

/**
 * The characters that delimit a placeholder's value. In a pattern, the literal characters right
 * beside it: a value holding one makes the pattern reach keys of another subject (for
 * `s:{subject}:*`, the subject `4:x` matches subject 4's key `s:4:x:1`; for `*:s:{subject}`,
 * `a:s:4` matches 4's `x:s:a:s:4`). In an exact key, every character between it and another
 * placeholder (`acct:{key.t}:{key.u}`: `a:b`+`c` and `a`+`b:c` give one key). Pure.
 */
export function delimitersOf(span: PlaceholderSpan, pattern: boolean): string[] {
  if (pattern) return [span.before.at(-1), span.after[0]].filter((c): c is string => c !== undefined);
  return [...(span.previous ? span.before : ''), ...(span.next !== undefined ? span.after : '')];
}

/** A placeholder's value: the subject, one of its key columns, or one of a related row's. */
function valueOf(name: string, values: TemplateValues): string | undefined {
  if (name === 'subject') return values.subject;
  if (name.startsWith('key.')) return values.key[name.slice(4)];
  if (name.startsWith('row.')) return values.row?.[name.slice(4)];
  return undefined;
}

/**
 * The placeholder whose value holds one of its delimiters (`delimitersOf`), and that delimiter:
 * a template cannot name such a value exactly. Undefined when every value is clear. Pure.
 */
export function delimiterClash(template: string, values: TemplateValues, pattern = isPattern(template)): { placeholder: string; delimiter: string } | undefined {
  for (const span of placeholderSpans(template)) {
    const value = valueOf(span.name, values);
    const delimiter = delimitersOf(span, pattern).find((d) => value?.includes(d));
    if (delimiter !== undefined) return { placeholder: `{${span.name}}`, delimiter };
  }
  return undefined;
}

/**
 * Expands a template. `escape` is applied to substituted values only, so a pattern template can
 * escape glob characters inside a subject id while keeping its own `*`. Returns undefined when a
 * placeholder has no value (a related row without that column).
 */
export function expand(template: string, values: TemplateValues, escape: (value: string) => string = (v) => v): string | undefined {
  let missing = false;
  const out = template.replace(PLACEHOLDER, (_, name: string) => {
    const value = valueOf(name, values);
    if (value === undefined) {
      missing = true;
      return '';
    }
    return escape(value);
  });
  return missing ? undefined : out;
}

/** Escapes Redis glob characters (`* ? [ ] \\`) in a value substituted into a SCAN pattern. */
export function escapeGlob(value: string): string {
  return value.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
