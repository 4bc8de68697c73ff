import type { CatalogProblem } from './catalog-error.js';

const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${VAR}` and `${VAR:-default}` in every string of a parsed YAML document with values
 * from `env` (`$${` is a literal `${`). Works on the parsed values, not the file's text, so a
 * value can never inject YAML structure. Unset variables without a default are problems named by
 * the path of the string that used them.
 */
export function interpolate(
  value: unknown,
  env: Record<string, string | undefined>,
  path: string = '',
): { value: unknown; problems: CatalogProblem[] } {
  const problems: CatalogProblem[] = [];
  const walk = (node: unknown, at: string): unknown => {
    if (typeof node === 'string') {
      return node.replace(REFERENCE, (match, name: string | undefined, fallback: string | undefined) => {
        if (match === '$${') return '${';
        const resolved = env[name!];
        if (resolved !== undefined && resolved !== '') return resolved;
        if (fallback !== undefined) return fallback;
        problems.push({ path: at, message: `environment variable ${name} is not set` });
        return match;
      });
    }
    if (Array.isArray(node)) return node.map((item, i) => walk(item, `${at}[${i}]`));
    if (node !== null && typeof node === 'object') {
      return Object.fromEntries(
        Object.entries(node).map(([key, item]) => [key, walk(item, at === '' ? key : `${at}.${key}`)]),
      );
    }
    return node;
  };
  return { value: walk(value, path), problems };
}
