import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Bearer tokens of the tracker's HTTP API. A token is a random secret (32 bytes, base64url, with
 * a `lethe_` prefix so secret scanners can find a leaked one); only its SHA-256 is configured. A
 * hash without a salt or a slow KDF is enough here because the secret is 256 random bits: nothing
 * can be guessed from its digest (unlike a password).
 */
export const API_ROLES = ['reader', 'operator'] as const;
export type ApiRole = (typeof API_ROLES)[number];

export interface ApiToken {
  /** Who holds it, e.g. `ops-alice`: recorded with each confirmation made with it. */
  name: string;
  role: ApiRole;
  /** SHA-256 of the token, lower-case hex. */
  sha256: string;
}

export const TOKEN_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const SHA256_HEX = /^[0-9a-f]{64}$/;
const TOKEN_PREFIX = 'lethe_';

/** The environment variable a deployment lists tokens in: `name:role:sha256`, comma-separated. */
export const TOKENS_ENV = 'LETHE_API_TOKENS';

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function createToken(name: string, role: ApiRole): { token: string; entry: ApiToken } {
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  return { token, entry: { name, role, sha256: hashToken(token) } };
}

/** What a role may do: an operator may read too. */
export function allows(role: ApiRole, needed: ApiRole): boolean {
  return role === 'operator' || needed === 'reader';
}

/**
 * The configured token whose hash matches the presented one, compared in constant time against
 * every entry (no early exit, so the time taken says nothing about which entry came close).
 */
export function findToken(tokens: readonly ApiToken[], presented: string): ApiToken | undefined {
  const digest = createHash('sha256').update(presented, 'utf8').digest();
  let found: ApiToken | undefined;
  for (const t of tokens) {
    if (timingSafeEqual(digest, Buffer.from(t.sha256, 'hex')) && !found) found = t;
  }
  return found;
}

/** The token of an `Authorization: Bearer <token>` header; undefined when absent or another scheme. */
export function bearerOf(header: string | undefined): string | undefined {
  const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

/** Parses `LETHE_API_TOKENS` (`name:role:sha256`, separated by commas or whitespace). */
export function parseTokenList(text: string): { tokens: ApiToken[]; problems: string[] } {
  const tokens: ApiToken[] = [];
  const problems: string[] = [];
  text
    .split(/[\s,]+/)
    .filter(Boolean)
    .forEach((item, i) => {
      const [name = '', role = '', sha256 = '', ...rest] = item.split(':');
      const problem = tokenProblem({ name, role, sha256 });
      if (rest.length > 0 || problem) problems.push(`entry ${i + 1}: ${problem ?? 'expected name:role:sha256'}`);
      else tokens.push({ name, role: role as ApiRole, sha256: sha256.toLowerCase() });
    });
  return { tokens, problems };
}

/** Why a token entry is unusable, or undefined when it is fine. */
export function tokenProblem(t: { name: string; role: string; sha256: string }): string | undefined {
  if (!TOKEN_NAME.test(t.name)) return `name ${JSON.stringify(t.name)}: lower-case letters, digits, '.', '_' and '-', at most 64`;
  if (!(API_ROLES as readonly string[]).includes(t.role)) return `role ${JSON.stringify(t.role)}: one of ${API_ROLES.join(', ')}`;
  const hash = hashProblem(t.sha256);
  return hash && `sha256: ${hash}`;
}

/** Why a configured hash is not one, or undefined when it is 64 hex digits. */
export function hashProblem(sha256: string): string | undefined {
  if (SHA256_HEX.test(sha256.toLowerCase())) return undefined;
  return sha256.startsWith(TOKEN_PREFIX)
    ? 'this is a token, not its hash; configure the hash `lethe token create` printed, and never the token itself'
    : '64 hex digits (the SHA-256 of the token, as `lethe token create` prints it)';
}
