import { pino, type Logger } from 'pino';

/**
 * The root logger. Services take a child with their name (`logger.child({ service: 'cdc' })`).
 * Log subject keys, counts, ids and LSNs; never row contents or other personal data.
 */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino({
    name: options.name ?? 'lethe',
    level: options.level ?? process.env.LETHE_LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
  });
}

export type { Logger };
