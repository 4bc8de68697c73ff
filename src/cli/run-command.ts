import type { Command } from 'commander';
import { CdcReader } from '../cdc/cdc-reader.js';
import { UsageError } from '../errors.js';
import { createLogger } from '../logger.js';
import { catalogFrom } from './catalog-option.js';

const SERVICES = ['cdc'] as const;

/** `lethe run [--only cdc]`: runs Lethe's services until SIGINT or SIGTERM. */
export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run Lethe as a service until SIGINT/SIGTERM')
    .option('--only <service>', `run one service: ${SERVICES.join(', ')}`)
    .action(async (options: { only?: string }, command: Command) => {
      if (options.only && !(SERVICES as readonly string[]).includes(options.only)) {
        throw new UsageError(`--only ${options.only}: unknown service (known: ${SERVICES.join(', ')})`);
      }
      const catalog = await catalogFrom(command);
      const logger = createLogger();
      const controller = new AbortController();
      const stop = (signal: string) => {
        logger.info({ signal }, 'stopping');
        controller.abort();
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
      await new CdcReader({ catalog, logger }).run(controller.signal);
    });
}
