import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { createLogger } from '../logger.js';
import { replayErasures, replayTargets } from '../replay/erasure-replay.js';
import { catalogFrom } from './catalog-option.js';

/** `lethe replay --sink <name> --since <time>`: re-applies the erasure log after a restore. */
export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description('after restoring a backup of one store, re-apply every erasure since a time to that store, then exit')
    .requiredOption('--sink <name>', 'the restored store: a configured sink, or primary for the primary database')
    .requiredOption('--since <time>', 'when the backup was taken (ISO 8601, e.g. 2026-10-01T00:00:00Z); replays erasures logged from then on')
    .action(async (options: { sink: string; since: string }, command: Command) => {
      const since = Date.parse(options.since);
      if (Number.isNaN(since)) throw new UsageError(`--since ${options.since}: not a date-time (use ISO 8601, e.g. 2026-10-01T00:00:00Z)`);
      const catalog = await catalogFrom(command);
      if (!replayTargets(catalog).includes(options.sink)) {
        throw new UsageError(`--sink ${options.sink}: not a sink of this catalog (replay targets: ${replayTargets(catalog).join(', ')})`);
      }
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort());
      process.once('SIGTERM', () => controller.abort());
      let shown = 0;
      const summary = await replayErasures({
        catalog,
        sink: options.sink,
        since,
        logger: createLogger({ level: process.env.LETHE_LOG_LEVEL ?? 'warn' }),
        signal: controller.signal,
        onProgress: (p) => {
          if (Date.now() - shown < 1000 && p.remaining > 0n) return;
          shown = Date.now();
          process.stderr.write(`replay ${options.sink}: ${p.events} erasures applied, ${p.remaining} records to go\n`);
        },
      });
      const records = summary.range.reduce((n, r) => n + BigInt(r.to) - BigInt(r.from), 0n);
      process.stdout.write(
        `replayed ${summary.events} erasure(s) from ${records} record(s) of the erasure log since ${summary.since} into ${summary.sink}\n` +
          `  acks: ${Object.entries(summary.acks).map(([k, v]) => `${k.toLowerCase()} ${v}`).join(', ')}; ${summary.affected} item(s) erased again\n` +
          (summary.remaining > 0n ? `  stopped early: ${summary.remaining} record(s) not replayed; run the same command again\n` : ''),
      );
      if (summary.acks.FAILED > 0 || summary.remaining > 0n) process.exitCode = 1;
    });
}
