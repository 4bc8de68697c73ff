import { getHeapStatistics } from 'node:v8';

/**
 * The V8 old-space limit `lethe run` is measured with (README, "Memory"): every part's working
 * set is bounded by batch sizes and the reader's spill, but V8 grows its heap far past what is
 * live while garbage is made fast, up to a default limit set by the machine's memory (gigabytes).
 */
export const RECOMMENDED_HEAP_MIB = 192;

/**
 * A warning when no heap limit was given to node (neither on its command line nor in
 * NODE_OPTIONS), naming the flag; undefined when one was, whatever its value. Pure.
 */
export function heapLimitWarning(execArgv: readonly string[], nodeOptions: string | undefined, limitBytes: number): string | undefined {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].some((arg) => /^--max[-_]old[-_]space[-_]size(=|$)/.test(arg));
  if (given) return undefined;
  return (
    `node runs without a heap limit (V8 may grow to ${Math.round(limitBytes / 2 ** 20)} MiB): ` +
    `start it as node --max-old-space-size=${RECOMMENDED_HEAP_MIB} bin/lethe.js run, or set NODE_OPTIONS=--max-old-space-size=${RECOMMENDED_HEAP_MIB}, ` +
    'to keep lethe run within about 256 MiB'
  );
}

/** The warning for this process, if any. */
export function currentHeapLimitWarning(): string | undefined {
  return heapLimitWarning(process.execArgv, process.env.NODE_OPTIONS, getHeapStatistics().heap_size_limit);
}
