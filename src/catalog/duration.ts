import { z } from 'zod';

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** A duration written as a whole number and a unit: `90s`, `15m`, `72h`, `30d`, `6w`. */
export const durationText = z
  .string()
  .regex(/^\d+\s*[smhdw]$/, 'a duration is a whole number and a unit: s, m, h, d or w (e.g. 72h, 30d)')
  .transform((text) => Number(text.slice(0, -1).trim()) * UNIT_MS[text.slice(-1) as keyof typeof UNIT_MS])
  .refine((ms) => ms > 0, 'must be longer than zero');

/** Prints milliseconds back in the largest whole unit: 2592000000 → 30d. */
export function formatDuration(ms: number): string {
  for (const unit of ['w', 'd', 'h', 'm', 's'] as const) {
    if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
