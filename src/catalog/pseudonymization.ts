import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';

/**
 * Keyed pseudonymization (`hmac`): HMAC-SHA256 of the old value with a secret key named by an id
 * (`pseudonymization: { hmacKey: <id> }`), so the key can rotate. The key itself is never in the
 * catalog: it is read from `LETHE_HMAC_KEY_<ID>`, or from the file `LETHE_HMAC_KEY_<ID>_FILE`
 * names. A stored value is `hmac:<id>:<64 hex>`: recognisable, so applying an erasure again never
 * hmacs an hmac, and naming its key, so a rotation is visible in the data.
 */

export const HMAC_KEY_ID = /^[a-z][a-z0-9_]{0,39}$/;
export const HMAC_KEY_ID_RULE = 'a key id is a lower-case letter, then lower-case letters, digits or _, at most 40';
/** The fewest key bytes accepted: HMAC-SHA256's own block of security (RFC 2104 asks for at least the hash's length). */
export const MIN_HMAC_KEY_BYTES = 32;

/** Any value this or an earlier key (a rotation) produced: already pseudonymized, left as is. */
export const PSEUDONYMIZED_SHAPE = String.raw`^hmac:[a-z][a-z0-9_]{0,39}:[0-9a-f]{64}$`;

export function hmacKeyVariable(id: string): string {
  return `LETHE_HMAC_KEY_${id.toUpperCase()}`;
}

/** The secret for key `id`, from the environment; a UsageError naming the variable when it is missing or short. */
export function readHmacKey(id: string, env: Record<string, string | undefined> = process.env): Buffer {
  const name = hmacKeyVariable(id);
  const direct = env[name];
  const file = env[`${name}_FILE`];
  if (direct !== undefined && file !== undefined) throw new UsageError(`hmac key ${id}: both ${name} and ${name}_FILE are set; set one`);
  let key: Buffer;
  if (direct !== undefined) {
    key = Buffer.from(direct, 'utf8');
  } else if (file !== undefined) {
    try {
      key = Buffer.from(readFileSync(file, 'utf8').replace(/\r?\n$/, ''), 'utf8');
    } catch (error) {
      throw new UsageError(`hmac key ${id}: cannot read ${name}_FILE (${file}): ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  } else {
    throw new UsageError(`hmac key ${id} is not set: set ${name} (or ${name}_FILE naming a file holding it)`);
  }
  if (key.length < MIN_HMAC_KEY_BYTES) throw new UsageError(`hmac key ${id} (${name}) has ${key.length} bytes; at least ${MIN_HMAC_KEY_BYTES} are needed`);
  return key;
}

/** `hmac:<id>:<hex>`, the pseudonym of `value` under key `id`. Pure. */
export function pseudonymOf(id: string, key: Buffer, value: string): string {
  return `hmac:${id}:${createHmac('sha256', key).update(value, 'utf8').digest('hex')}`;
}
