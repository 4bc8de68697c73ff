import { inspect } from 'node:util';
import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';
import { failureLine } from './command-failure.js';
import { registerDoctor } from './doctor-command.js';
import { registerEvents } from './events-command.js';
import { registerHold } from './hold-command.js';
import { registerInit } from './init-command.js';
import { registerPing } from './ping-command.js';
import { registerReplay } from './replay-command.js';
import { registerDlq } from './dlq-command.js';
import { registerRun } from './run-command.js';
import { registerToken } from './token-command.js';
import { registerRequest } from './request-command.js';
import { registerTrackerCommands } from './tracker-commands.js';

/**
 * Builds the `lethe` command tree. Subcommands land with the issues that implement them; until
 * then the CLI only describes itself, so nothing here starts work at import time.
 */
export function buildCli(): Command {
  const program = new Command('lethe')
    .description(
      'Lethe propagates the erasure of a data subject from PostgreSQL to every downstream copy ' +
        '(Redis, Elasticsearch, BigQuery, compacted Kafka topics) and proves it.',
    )
    .version(VERSION, '-V, --version')
    .option('-c, --config <path>', 'catalog file', 'lethe.config.yaml')
    .showHelpAfterError()
    .exitOverride();
  program.addHelpText(
    'after',
    '\nThe local stack (PostgreSQL, Kafka, schema registry, Redis, Elasticsearch, BigQuery emulator)\n' +
      'is started by `make up`; its endpoints are in .stack/env.',
  );
  registerDoctor(program);
  registerInit(program);
  registerRun(program);
  registerEvents(program);
  registerTrackerCommands(program);
  registerHold(program);
  registerReplay(program);
  registerDlq(program);
  registerPing(program);
  registerToken(program);
  registerRequest(program);
  return program;
}

/**
 * Runs the CLI and returns the process exit code. A failure is one line naming what failed;
 * LETHE_DEBUG=1 adds the error's stack and causes.
 */
export async function main(argv: string[]): Promise<number> {
  const program = buildCli();
  if (argv.length <= 2) {
    program.outputHelp();
    return 0;
  }
  let command: string | undefined;
  program.hook('preAction', (_program, action) => {
    command = action.name();
  });
  try {
    await program.parseAsync(argv);
    // A command that reports failures without throwing (ping, doctor) sets process.exitCode.
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit through here with code 0; usage mistakes with 1.
      return error.exitCode;
    }
    process.stderr.write(`${failureLine(error, command)}\n`);
    if (process.env.LETHE_DEBUG) process.stderr.write(`${inspect(error, { depth: 5 })}\n`);
    return 1;
  }
}
