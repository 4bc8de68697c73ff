import { z } from 'zod';
import type { Catalog } from '../catalog/catalog.js';
import { LetheError } from '../errors.js';

/**
 * What a confirmation may carry, from the API and from `lethe confirm` alike. The text is kept
 * forever in the proof, so it is bounded; `by` is one line (it sits in a report's table cell).
 */
export const CONFIRMATION_LIMITS = { system: 200, by: 200, note: 2000 } as const;

const CONTROL = /[\u0000-\u001f\u007f]/;
const CONTROL_BUT_LINES = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

export const confirmationInput = z
  .object({
    system: z.string().min(1, 'which manual system is required').max(CONFIRMATION_LIMITS.system, `at most ${CONFIRMATION_LIMITS.system} characters`),
    by: z
      .string()
      .trim()
      .min(1, 'who confirms is required')
      .max(CONFIRMATION_LIMITS.by, `at most ${CONFIRMATION_LIMITS.by} characters`)
      .refine((t) => !CONTROL.test(t), 'one line of text, without control characters'),
    note: z
      .string()
      .max(CONFIRMATION_LIMITS.note, `at most ${CONFIRMATION_LIMITS.note} characters`)
      .refine((t) => !CONTROL_BUT_LINES.test(t), 'text without control characters (line breaks and tabs are fine)')
      .default(''),
  })
  .strict();

export type ConfirmationInput = z.output<typeof confirmationInput>;

/** A confirmation names a manual system of the catalog; anything else is refused before the store is asked. */
export function assertManualSystem(catalog: Pick<Catalog, 'manual'>, system: string): void {
  if (catalog.manual.some((m) => m.name === system)) return;
  const known = catalog.manual.map((m) => m.name);
  throw new LetheError('NOT_A_MANUAL_SYSTEM', `system: ${system} is not a manual system of the catalog (manual: ${known.join(', ') || 'none'})`);
}

/** `field: reason; field: reason` for a refused confirmation. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || 'request'}: ${i.code === 'unrecognized_keys' ? `unknown ${i.keys.join(', ')}` : i.message}`).join('; ');
}
