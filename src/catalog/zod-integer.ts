import { z } from 'zod';

/**
 * An integer setting between `min` and `max`, also written as a string of digits: that is what
 * `${VAR}` interpolation gives (`port: ${LETHE_TRACKER_PORT}`). Anything else is refused as usual.
 */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return z.preprocess((value) => (typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value), z.number().int().min(min).max(max));
}
