import { createHmac, hkdfSync, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { jwtVerify, SignJWT } from 'jose';
import { LetheError } from '../errors.js';

/**
 * The secret behind a request's links and codes: links in mail (verify, cancel, export download)
 * are JWTs signed with it (HS256, through jose), one-time codes are stored as its HMAC, never in
 * clear, and access exports are encrypted under a key derived from it (HKDF). It
 * comes from LETHE_REQUEST_SECRET or the file LETHE_REQUEST_SECRET_FILE names, at least 32 bytes,
 * and is never logged.
 */
export const REQUEST_SECRET_ENV = 'LETHE_REQUEST_SECRET';
const MIN_SECRET_BYTES = 32;
const ISSUER = 'lethe';

export type LinkPurpose = 'verify' | 'cancel' | 'export';

export function readRequestSecret(env: Record<string, string | undefined> = process.env): Buffer {
  const file = env[`${REQUEST_SECRET_ENV}_FILE`];
  let secret: Buffer;
  if (env[REQUEST_SECRET_ENV]) secret = Buffer.from(env[REQUEST_SECRET_ENV]!, 'utf8');
  else if (file) {
    try {
      secret = Buffer.from(readFileSync(file, 'utf8').trim(), 'utf8');
    } catch (error) {
      throw new LetheError('REQUEST_SECRET', `${REQUEST_SECRET_ENV}_FILE: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  } else {
    throw new LetheError('REQUEST_SECRET', `requests need a secret for their links and codes: set ${REQUEST_SECRET_ENV} or ${REQUEST_SECRET_ENV}_FILE (at least ${MIN_SECRET_BYTES} bytes, e.g. \`openssl rand -base64 48\`)`);
  }
  if (secret.length < MIN_SECRET_BYTES) throw new LetheError('REQUEST_SECRET', `${REQUEST_SECRET_ENV}: at least ${MIN_SECRET_BYTES} bytes are needed, got ${secret.length}`);
  return secret;
}

export class RequestSecrets {
  constructor(private readonly secret: Buffer) {}

  /** A signed link token for one purpose of one request, valid until `expiresAt`. */
  async linkToken(requestId: string, purpose: LinkPurpose, expiresAt: number): Promise<string> {
    return new SignJWT({ purpose })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISSUER)
      .setSubject(requestId)
      .setJti(randomBytes(9).toString('base64url'))
      .setExpirationTime(Math.floor(expiresAt / 1000))
      .sign(this.secret);
  }

  /** Whether `token` is a valid link of `purpose` for `requestId` at `now`. */
  async checkLink(token: string, requestId: string, purpose: LinkPurpose, now: number): Promise<boolean> {
    try {
      const { payload } = await jwtVerify(token, this.secret, { issuer: ISSUER, subject: requestId, algorithms: ['HS256'], currentDate: new Date(now) });
      return payload.purpose === purpose;
    } catch {
      return false;
    }
  }

  /** A fresh six-digit one-time code and the hash that is stored in its place. */
  newCode(requestId: string): { code: string; hash: string } {
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    return { code, hash: this.codeHash(requestId, code) };
  }

  codeHash(requestId: string, code: string): string {
    return createHmac('sha256', this.secret).update(`code\u0000${requestId}\u0000${code}`).digest('hex');
  }

  /** Compares in constant time. */
  codeMatches(requestId: string, code: string, storedHash: string): boolean {
    const presented = Buffer.from(this.codeHash(requestId, code.trim()), 'hex');
    const stored = Buffer.from(storedHash, 'hex');
    return stored.length === presented.length && timingSafeEqual(presented, stored);
  }

  /** The AES-256 key access exports are encrypted with at rest: HKDF-SHA256 of the secret, info 'lethe access export'. */
  exportKey(): Buffer {
    return Buffer.from(hkdfSync('sha256', this.secret, Buffer.alloc(0), 'lethe access export', 32));
  }

  /** A keyed hash of an identity, kept after the address itself is forgotten. */
  identityHash(kind: string, value: string): string {
    return createHmac('sha256', this.secret).update(`identity\u0000${kind}\u0000${value.trim().toLowerCase()}`).digest('hex');
  }
}

/** `req_` and 26 base32 characters of randomness (130 bits). */
export function newRequestId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let out = '';
  for (const byte of randomBytes(26)) out += alphabet[byte % 32];
  return `req_${out}`;
}
