import type { TemplateValues } from '../catalog/key-template.js';
import type { SubjectErased } from '../cdc/erasure-manifest.js';

/** The values key templates expand with for an event's subject. */
export function subjectValues(event: SubjectErased): TemplateValues {
  return { subject: event.subjectId, key: Object.fromEntries(event.subjectKey.map((k) => [k.column, k.value])) };
}

/** The same, for one related row of the event's manifest. */
export function rowValues(event: SubjectErased, row: SubjectErased['related'][number]): TemplateValues {
  return { ...subjectValues(event), row: Object.fromEntries(row.key.map((k) => [k.column, k.value])) };
}
