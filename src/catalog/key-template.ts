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
