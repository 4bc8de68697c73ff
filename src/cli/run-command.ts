import type { Command } from 'commander';
import { createConnector } from '../../connectors/connector-factory.js';
import { SinkRunner } from '../../consumers/sink-runner.js';
import { configuredSinks, SINK_NAMES, type SinkName } from '../catalog/sinks.js';
import { CdcReader } from '../cdc/cdc-reader.js';
import { LetheError, UsageError } from '../errors.js';
import { createLogger } from '../logger.js';
import { TrackerService } from '../tracker/tracker-service.js';
import { catalogFrom } from './catalog-option.js';
import { messageOf } from './command-failure.js';
import type { Catalog } from '../catalog/catalog.js';
import type { Logger } from '../logger.js';
import { CLOCK_FILE_ENV, clockFromEnv, FileOffsetClock } from '../requests/clock.js';
import { openRequests } from '../requests/request-system.js';

/** `lethe run [--only cdc|sink:<name>]`: runs Lethe's services until SIGINT or SIGTERM. */
export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run Lethe as a service until SIGINT/SIGTERM: the CDC reader, every configured sink, the tracker (API, dashboard, metrics) and, when the catalog takes requests, the request worker')
    .option('--only <service>', `run one service: cdc, sink:<name> (${SINK_NAMES.join(', ')}), tracker or requests`)
    .action(async (options: { only?: string }, command: Command) => {
      const catalog = await catalogFrom(command);
      const sinks = configuredSinks(catalog.sinks);
      let services: string[] = ['cdc', ...sinks.map((s) => `sink:${s}`), 'tracker', ...(catalog.requests.enabled ? ['requests'] : [])];
      if (options.only) {
        if (!services.includes(options.only)) {
          throw new UsageError(`--only ${options.only}: not a service of this catalog (services: ${services.join(', ')})`);
        }
        services = [options.only];
      }
      const logger = createLogger();
      const controller = new AbortController();
      // The first signal stops cleanly: consumers leave their groups at once (no session timeout for
      // the others to wait out), the reader confirms what is durable. A second one exits now.
      const stop = (signal: string) => {
        if (controller.signal.aborted) {
          logger.warn({ signal }, 'second signal: exiting without a clean stop');
          process.exit(130);
        }
        logger.info({ signal }, 'stopping');
        controller.abort();
      };
      const onInt = () => stop('SIGINT');
      const onTerm = () => stop('SIGTERM');
      process.on('SIGINT', onInt);
      process.on('SIGTERM', onTerm);
      // One failing service stops the others; once all have stopped, the process exits non-zero
      // naming it, and is restarted whole.
      const failures: Array<{ service: string; error: unknown }> = [];
      await Promise.all(
        services.map(async (service) => {
          try {
            if (service === 'cdc') await new CdcReader({ catalog, logger }).run(controller.signal);
            else if (service === 'tracker') await new TrackerService({ catalog, logger }).run(controller.signal);
            else if (service === 'requests') await runRequests(catalog, logger, controller.signal);
            else {
              const sink = service.slice('sink:'.length) as SinkName;
              await new SinkRunner({ catalog, connector: createConnector(sink, catalog, logger), logger }).run(controller.signal);
            }
          } catch (error) {
            failures.push({ service, error });
            logger.error({ service, err: messageOf(error) }, 'service failed; stopping the others');
            controller.abort();
          }
        }),
      );
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      const [failed] = failures;
      if (failed) throw new LetheError('SERVICE_FAILED', `${failed.service} stopped: ${messageOf(failed.error)}`, { cause: failed.error });
    });
}

/** The request worker: timers, execution in the primary, completion, mail. */
async function runRequests(catalog: Catalog, logger: Logger, signal: AbortSignal): Promise<void> {
  const clock = clockFromEnv();
  if (clock instanceof FileOffsetClock) logger.warn({ file: clock.path, offsetMs: clock.offset() }, `the request clock is shifted by ${CLOCK_FILE_ENV} (a test hook)`);
  // The worker creates the tables itself, waiting out a database that does not answer yet.
  const system = await openRequests(catalog, logger, { clock, ensureSchema: false });
  try {
    await system.worker.run(signal);
  } finally {
    await system.close();
  }
}
