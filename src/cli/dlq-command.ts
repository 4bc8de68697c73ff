import type { Command } from 'commander';
import { DeadLetters } from '../dlq/dead-letters.js';
import { createLogger } from '../logger.js';
import { catalogFrom } from './catalog-option.js';

/** `lethe dlq list|redrive --sink <name>`: what a sink could not erase, and sending it back. */
export function registerDlq(program: Command): void {
  const dlq = program.command('dlq').description("a sink's dead letters: what it could not erase (the record's own fault), and re-driving them once fixed");
  dlq
    .command('list')
    .description('list the dead letters of a sink: event id, subject key, reason, time (never the record contents)')
    .requiredOption('--sink <name>', 'a configured sink, or primary')
    .option('--json', 'one JSON object per line')
    .action(async (options: { sink: string; json?: boolean }, command: Command) => {
      const catalog = await catalogFrom(command);
      const letters = new DeadLetters({ catalog, sink: options.sink, logger: createLogger({ level: process.env.LETHE_LOG_LEVEL ?? 'warn' }) });
      const list = await letters.list();
      if (options.json) {
        for (const l of list) process.stdout.write(`${JSON.stringify(l)}\n`);
        return;
      }
      if (list.length === 0) {
        process.stdout.write(`${letters.topic}: no dead letters\n`);
        return;
      }
      for (const l of list) {
        const when = l.at === null ? '-' : new Date(l.at).toISOString();
        process.stdout.write(`${l.offset}\t${when}\t${l.eventId ?? '(undecodable)'}\t${l.subject}\t${l.redriven ? 'redriven' : 'waiting'}\t${l.reason}\n`);
      }
      const waiting = list.filter((l) => !l.redriven).length;
      process.stdout.write(`${list.length} dead letter(s) in ${letters.topic}, ${waiting} not yet re-driven\n`);
    });
  dlq
    .command('redrive')
    .description("send dead letters back to the live sink (through its retry topic) once their cause is fixed; the tracker lets the new outcome stand")
    .requiredOption('--sink <name>', 'a configured sink, or primary')
    .option('--event <id>', 'only the dead letters of this erasure event')
    .option('--all', 'also those an earlier redrive already sent back')
    .action(async (options: { sink: string; event?: string; all?: boolean }, command: Command) => {
      const catalog = await catalogFrom(command);
      const letters = new DeadLetters({ catalog, sink: options.sink, logger: createLogger({ level: process.env.LETHE_LOG_LEVEL ?? 'warn' }) });
      const { sent, records } = await letters.redrive({ ...(options.event ? { eventId: options.event } : {}), ...(options.all ? { all: true } : {}) });
      process.stdout.write(`re-drove ${sent} of ${records} dead letter(s) of sink ${options.sink}; \`lethe run\` (sink:${options.sink}) applies them and acks again\n`);
    });
}
