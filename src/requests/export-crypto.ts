import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { RecordError } from '../errors.js';

/**
 * An access export at rest: the copy of a person's data is sealed with AES-256-GCM under the key
 * RequestSecrets.exportKey() derives from the request secret, with the request id as associated
 * data (a sealed export moved to another request's row does not open). Pure. The stored bytes are
 * `1 | iv (12) | tag (16) | ciphertext` of the gzipped JSON; a wrong key, a changed byte or
 * another request's id fails the tag check, and nothing is returned then.
 */
const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

function checkKey(key: Buffer): void {
  if (key.length !== KEY_BYTES) throw new TypeError(`an access export key is ${KEY_BYTES} bytes, got ${key.length}`);
}

export function sealExport(key: Buffer, requestId: string, plaintext: Buffer): Buffer {
  checkKey(key);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(requestId, 'utf8'));
  const body = Buffer.concat([cipher.update(gzipSync(plaintext)), cipher.final()]);
  return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), body]);
}

/** The export's plaintext; a RecordError when it cannot be opened (wrong key or request, altered, not an export). */
export function openExport(key: Buffer, requestId: string, sealed: Buffer): Buffer {
  checkKey(key);
  const unreadable = () =>
    new RecordError('EXPORT_UNREADABLE', `the access export of request ${requestId} cannot be decrypted: the request secret changed, or the stored export was altered`);
  if (sealed.length < 1 + IV_BYTES + TAG_BYTES || sealed[0] !== VERSION) throw unreadable();
  const iv = sealed.subarray(1, 1 + IV_BYTES);
  const tag = sealed.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(Buffer.from(requestId, 'utf8'));
  decipher.setAuthTag(tag);
  let zipped: Buffer;
  try {
    zipped = Buffer.concat([decipher.update(sealed.subarray(1 + IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch {
    throw unreadable();
  }
  return gunzipSync(zipped);
}
