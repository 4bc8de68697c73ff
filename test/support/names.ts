import { randomBytes } from 'node:crypto';

/**
 * A fresh name per test for every shared server object (slot, publication, topic, group, index,
 * dataset): tests never collide and never depend on what a previous run left. Lowercase
 * letters, digits and underscores only, so it is valid as a slot name and an index name alike.
 */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}
