import { LetheError } from './errors.js';

export interface RetryOptions {
  /** Attempts in all, the first included. Infinity retries until the signal aborts. */
  attempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  /** Multiplier per attempt. */
  factor?: number;
  signal?: AbortSignal;
  /** Whether an error is worth another attempt; by default a LetheError's `retriable` flag, else yes. */
  retriable?: (error: unknown) => boolean;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/** Test-speed settings: same logic, millisecond delays. */
export const FAST_RETRY: Pick<RetryOptions, 'initialDelayMs' | 'maxDelayMs'> = { initialDelayMs: 1, maxDelayMs: 10 };

/**
 * Exponential backoff with full jitter, the project's one retry helper. A non-retriable error
 * (permanent: bad input, a rejected write) is thrown at once; the last error is thrown when the
 * attempts run out; an aborted signal stops the waiting.
 */
export async function retry<T>(work: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const factor = options.factor ?? 2;
  const retriable = options.retriable ?? defaultRetriable;
  for (let attempt = 1; ; attempt += 1) {
    options.signal?.throwIfAborted();
    try {
      return await work(attempt);
    } catch (error) {
      if (attempt >= options.attempts || !retriable(error) || options.signal?.aborted) throw error;
      const ceiling = backoffCeiling(attempt, { ...options, factor });
      const delayMs = Math.round(Math.random() * ceiling);
      options.onRetry?.(error, attempt, delayMs);
      await sleep(delayMs, options.signal);
    }
  }
}

export function backoffCeiling(attempt: number, options: Pick<RetryOptions, 'initialDelayMs' | 'maxDelayMs' | 'factor'>): number {
  return Math.min(options.maxDelayMs, options.initialDelayMs * (options.factor ?? 2) ** (attempt - 1));
}

/**
 * A wait of "equal jitter": between half the ceiling for this attempt and the ceiling, so waits of
 * many instances spread out and never collapse into a tight loop.
 */
export function jitteredDelay(attempt: number, options: Pick<RetryOptions, 'initialDelayMs' | 'maxDelayMs' | 'factor'>, random: () => number = Math.random): number {
  const ceiling = backoffCeiling(attempt, options);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

function defaultRetriable(error: unknown): boolean {
  return error instanceof LetheError ? error.retriable : true;
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
