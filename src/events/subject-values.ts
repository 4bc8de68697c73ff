import type { TemplateValues } from '../catalog/key-template.js';
import type { SubjectErased } from '../cdc/erasure-manifest.js';

/**
 * The value that names a subject in a store: its key value as the database prints it for a
 * one-column key (what an application writes into a cache key or a document field), the event's
 * joined subject id for a composite key.
 */
export function matchValue(event: Pick<SubjectErased, 'subjectKey' | 'subjectId'>): string {
  return event.subjectKey.length === 1 ? event.subjectKey[0]!.value : event.subjectId;
}

/** The subject's key values in the order of its key columns: what a store's match fields hold. */
export function keyValues(event: Pick<SubjectErased, 'subjectKey'>): string[] {
  return event.subjectKey.map((k) => k.value);
}

/** The values key templates expand with for an event's subject. */
export function subjectValues(event: SubjectErased): TemplateValues {
  return { subject: matchValue(event), key: Object.fromEntries(event.subjectKey.map((k) => [k.column, k.value])) };
}

/** The same, for one related row of the event's manifest. */
export function rowValues(event: SubjectErased, row: SubjectErased['related'][number]): TemplateValues {
  return { ...subjectValues(event), row: Object.fromEntries(row.key.map((k) => [k.column, k.value])) };
}
