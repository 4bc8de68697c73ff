import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const STACK = resolve(import.meta.dirname, '../../stack/stack.sh');

/** A service of the native stack (stack/stack.sh), by its name there. */
export type StackService = 'postgres' | 'redis' | 'kafka' | 'schema-registry' | 'elasticsearch' | 'bigquery' | 'mailpit';

/**
 * Stops and starts real servers of the stack for fault-injection tests. Disposal starts whatever
 * the test stopped, so a failing test never leaves the stack down for the next one.
 */
export function stackControl(): AsyncDisposable & { stop(...services: StackService[]): Promise<void>; start(...services: StackService[]): Promise<void> } {
  const down = new Set<StackService>();
  const stack = async (verb: 'up' | 'down', services: StackService[]) => {
    try {
      await run('bash', [STACK, verb, ...services], { env: process.env, timeout: 180_000, maxBuffer: 1 << 24 });
    } catch (error) {
      const e = error as { stderr?: string; message: string };
      throw new Error(`stack/stack.sh ${verb} ${services.join(' ')} failed: ${e.stderr?.trim().split('\n').slice(-5).join(' | ') ?? e.message}`);
    }
  };
  return {
    async stop(...services) {
      for (const s of services) down.add(s);
      await stack('down', services);
    },
    async start(...services) {
      await stack('up', services);
      for (const s of services) down.delete(s);
    },
    async [Symbol.asyncDispose]() {
      if (down.size > 0) await stack('up', [...down]);
    },
  };
}
