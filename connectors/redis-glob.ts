/**
 * Redis glob patterns (the MATCH of SCAN) on the client, so that one keyspace pass can serve a
 * whole batch of subjects' patterns instead of one pass per subject.
 *
 * Redis matches bytes (`stringmatchlen` in util.c), so patterns and keys are compared as their
 * UTF-8 bytes, one latin1 character per byte: `?` is one byte there too. Supported: `*`, `?` and
 * `\x` for a literal x. A pattern with a character class (`[...]`) gives `undefined`, and its
 * caller leaves that pattern to Redis.
 */

/** A key or pattern as a string of its bytes, one character per byte. */
export const asBytes = (value: string | Buffer): string => (typeof value === 'string' ? Buffer.from(value, 'utf8') : value).toString('latin1');

const escapeRegExp = (c: string) => c.replace(/[\\^$.*+?()[\]{}|/-]/g, (m) => `\\${m}`);

/** The anchored RegExp matching exactly the keys (as `asBytes`) that Redis matches with `pattern`. */
export function globToRegExp(pattern: string): RegExp | undefined {
  const p = asBytes(pattern);
  let out = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '*') {
      while (p[i + 1] === '*') i++;
      out += '[\\s\\S]*';
    } else if (c === '?') {
      out += '[\\s\\S]';
    } else if (c === '\\' && i + 1 < p.length) {
      out += escapeRegExp(p[++i]!);
    } else if (c === '[') {
      // Character classes have corner cases (`[a-]` reads past the `]`) not worth mirroring:
      // Lethe's own patterns escape every `[` of a value, so only a template could hold one.
      return undefined;
    } else {
      out += escapeRegExp(c);
    }
  }
  return new RegExp(`^${out}$`);
}

/** The literal text every key matching `pattern` starts with (up to its first glob character). */
export function literalPrefix(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' || c === '?' || c === '[') break;
    if (c === '\\' && i + 1 < pattern.length) out += pattern[++i]!;
    else out += c;
  }
  return out;
}

/** The longest common prefix of some strings. */
export function commonPrefix(values: readonly string[]): string {
  if (values.length === 0) return '';
  let prefix = values[0]!;
  for (const v of values) {
    let n = 0;
    while (n < prefix.length && n < v.length && prefix[n] === v[n]) n++;
    prefix = prefix.slice(0, n);
  }
  return prefix;
}
