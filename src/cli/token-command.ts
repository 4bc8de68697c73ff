import { InvalidArgumentError, Option, type Command } from 'commander';
import { API_ROLES, createToken, TOKEN_NAME, TOKENS_ENV, type ApiRole } from '../tracker/api-tokens.js';

function tokenName(value: string): string {
  if (!TOKEN_NAME.test(value)) throw new InvalidArgumentError("lower-case letters, digits, '.', '_' and '-', at most 64 (e.g. ops-alice).");
  return value;
}

/**
 * `lethe token create`: a new API token. The secret is printed once and kept nowhere; what is
 * configured is its hash, in the catalog's tracker.tokens or in LETHE_API_TOKENS.
 */
export function registerToken(program: Command): void {
  const token = program.command('token').description("the tracker API's bearer tokens");
  token
    .command('create')
    .description('make a token: prints the secret once, and the hash to configure')
    .requiredOption('--name <name>', 'who holds it (recorded with each confirmation made with it)', tokenName)
    .addOption(new Option('--role <role>', 'reader: statuses, reports, stream, metrics; operator: also confirm').choices(API_ROLES).makeOptionMandatory())
    .option('--json', 'print { name, role, token, sha256, env } as JSON')
    .action((options: { name: string; role: ApiRole; json?: boolean }) => {
      const { token: secret, entry } = createToken(options.name, options.role);
      const env = `${entry.name}:${entry.role}:${entry.sha256}`;
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ ...entry, token: secret, env })}\n`);
        return;
      }
      process.stdout.write(
        [
          `token for ${entry.name} (${entry.role}), shown only now: give it to its holder and keep it secret`,
          `  ${secret}`,
          '',
          'configure its hash, in the catalog:',
          '  tracker:',
          '    tokens:',
          `      - { name: ${entry.name}, role: ${entry.role}, sha256: ${entry.sha256} }`,
          `or in the environment (${TOKENS_ENV}, entries separated by commas):`,
          `  ${env}`,
          '',
          'clients send it as: Authorization: Bearer <token>',
          '',
        ].join('\n'),
      );
    });
}
