import { hash } from 'node:crypto';
import type { DevLetheEvents } from '../../schemas/generated/subject-erased.js';

export type SubjectErased = DevLetheEvents.SubjectErased;
export type KeyColumn = DevLetheEvents.KeyColumn;
export type RelatedRow = DevLetheEvents.RelatedRow;

/**
 * A subject erasure folded from one transaction: the event without its emission time, and whole
 * (the publisher splits one too large for a Kafka record into parts, see manifest-parts.ts).
 */
export type ErasureManifest = Omit<SubjectErased, 'emittedAt' | 'part' | 'parts'>;

/** The subject's key values, in key order, each percent-encoded, joined by '/'. */
export function subjectIdOf(values: readonly string[]): string {
  return values.map((v) => encodeURIComponent(v)).join('/');
}

/** The Kafka record key: one subject's events share it, so they stay in order on one partition. */
export function eventKeyOf(subjectType: string, subjectId: string): string {
  return `${subjectType}:${subjectId}`;
}

/**
 * The event id: the same for every redelivery of the same erasure (a commit LSN is fixed once
 * written), different for any other subject or commit. Formatted as a UUID for readability.
 */
export function eventIdOf(commitLsn: string, subjectType: string, subjectId: string): string {
  const hex = hash('sha256', `${commitLsn}\n${subjectType}\n${subjectId}`, 'hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
