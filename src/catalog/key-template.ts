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
  const parts = template.split(PLACEHOLDER_SPLIT);
  // parts alternate: literal, placeholder, literal, …; a placeholder's neighbours are the literals beside it.
  for (let i = 1; i < parts.length; i += 2) {
    const before = parts[i - 1]!;
    const after = parts[i + 1]!;
    const name = parts[i]!;
    if (after === '' && i + 2 < parts.length) {
      return `"${template}": {${name}} and {${parts[i + 2]}} stand side by side, so different values give the same text; put a delimiter between them`;
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

/**
 * The literal characters beside a placeholder delimit its value. In a pattern, a value holding
 * one makes the pattern reach keys of another subject (for `s:{subject}:*`, the subject `4:x`
 * matches subject 4's key `s:4:x:1`; for `*:s:{subject}`, `a:s:4` matches 4's `x:s:a:s:4`). In an
 * exact key only the text between two placeholders is in doubt (`acct:{key.t}:{key.u}`: `a:b`+`c`
 * and `a`+`b:c` give one key). A template cannot name such a value exactly. Returns the
 * placeholder and delimiter at fault, or undefined. Pure.
 */
export function delimiterClash(template: string, values: TemplateValues, pattern = isPattern(template)): { placeholder: string; delimiter: string } | undefined {
  const parts = template.split(PLACEHOLDER_SPLIT);
  const valueOf = (name: string) => (name === 'subject' ? values.subject : name.startsWith('key.') ? values.key[name.slice(4)] : values.row?.[name.slice(4)]);
  for (let i = 1; i < parts.length; i += 2) {
    const name = parts[i]!;
    const value = valueOf(name);
    const before = pattern || i > 1 ? parts[i - 1]! : '';
    const after = pattern || i + 2 < parts.length ? parts[i + 1]! : '';
    const delimiters = pattern ? [before.at(-1), after[0]] : [...before, ...after];
    for (const delimiter of delimiters) {
      if (delimiter !== undefined && value?.includes(delimiter)) return { placeholder: `{${name}}`, delimiter };
    }
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
    let value: string | undefined;
    if (name === 'subject') value = values.subject;
    else if (name.startsWith('key.')) value = values.key[name.slice(4)];
    else if (name.startsWith('row.')) value = values.row?.[name.slice(4)];
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
