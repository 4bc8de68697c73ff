import { writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { InvalidArgumentError, type Command } from 'commander';
import { UsageError } from '../errors.js';
import { createLogger } from '../logger.js';
import { LAWS, type Law } from '../requests/deadlines.js';
import { AccessExports } from '../requests/access-exports.js';
import { openRequests, type RequestSystem } from '../requests/request-system.js';
import { publicView } from '../requests/request-routes.js';
import { DENIAL_REASONS, REQUEST_STATES, REQUEST_TYPES, type DenialReason, type RequestState, type RequestType } from '../requests/request-states.js';
import type { RequestRow } from '../requests/request-store.js';
import { catalogFrom } from './catalog-option.js';
import { clockFromEnv } from '../requests/clock.js';

/**
 * `lethe request …`: privacy requests from the command line, on the request store directly
 * (trusted by its database access, like `lethe confirm`); each move is recorded as made by
 * `cli:<OS user>`.
 */
const actor = () => `cli:${userInfo().username}`;

function oneOf<T extends string>(allowed: readonly T[], what: string) {
  return (value: string): T => {
    if (!(allowed as readonly string[]).includes(value)) throw new InvalidArgumentError(`not a ${what}; one of ${allowed.join(', ')}.`);
    return value as T;
  };
}

function identityOption(value: string): { kind: string; value: string } {
  const at = value.indexOf('=');
  if (at <= 0 || at === value.length - 1) throw new InvalidArgumentError('an identity is <kind>=<value>, e.g. email=ada@example.com.');
  return { kind: value.slice(0, at), value: value.slice(at + 1) };
}

function subjectOption(value: string): { type: string; id: string } {
  const at = value.indexOf(':');
  if (at <= 0 || at === value.length - 1) throw new InvalidArgumentError("a subject is <type>:<id>, e.g. user:42.");
  return { type: value.slice(0, at), id: value.slice(at + 1) };
}

async function withRequests<T>(command: Command, work: (system: RequestSystem) => Promise<T>): Promise<T> {
  const catalog = await catalogFrom(command);
  const system = await openRequests(catalog, createLogger({ level: 'warn' }), { ensureSchema: false });
  try {
    return await work(system);
  } finally {
    await system.close();
  }
}

const day = (ms: number | null) => (ms === null ? '' : new Date(ms).toISOString().slice(0, 10));

function printOne(r: RequestRow, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(publicView(r), null, 2)}\n`);
    return;
  }
  const subject = r.subjectType && r.subjectId ? `${r.subjectType}:${r.subjectId}` : `(${r.identityKind ?? 'identity'} not resolved yet)`;
  const lines = [`${r.id}  ${r.type}  ${r.state}  ${subject}`, `  law ${r.law.toUpperCase()}, received ${new Date(r.receivedAt).toISOString()}, deadline ${day(r.deadline)}${r.extendedAt ? ` (extended: ${r.extensionReason})` : ''}`];
  if (r.graceEndsAt) lines.push(`  grace period until ${new Date(r.graceEndsAt).toISOString()}`);
  if (r.denialReason) lines.push(`  denied: ${r.denialReason}`);
  for (const e of r.exceptions) lines.push(e.kind === 'kept' ? `  kept ${e.table}: ${e.reason}` : `  held ${e.scope} by ${e.holdId}: ${e.basis} (review ${e.review})${e.released ? ', released' : ''}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

export function registerRequest(program: Command): void {
  const request = program.command('request').description('privacy requests: create, list, show, approve, deny, cancel, extend, verify, report, export');
  for (const register of [registerCreate, registerList, registerShow, registerReport, registerMoves]) register(request);
}

function registerCreate(request: Command): void {
  request
    .command('create')
    .description('take a request: by an identity the catalog resolves (a code is mailed unless --verified) or by a subject you name')
    .requiredOption('--type <type>', `${REQUEST_TYPES.join(' or ')}`, oneOf(REQUEST_TYPES, 'request type'))
    .option('--identity <kind=value>', 'e.g. email=ada@example.com', identityOption)
    .option('--subject <type:id>', 'e.g. user:42', subjectOption)
    .option('--subject-type <type>', 'which subject type the identity is resolved in, when several have it')
    .option('--law <law>', `${LAWS.join(' or ')} (default: the catalog's requests.defaultLaw)`, oneOf(LAWS, 'law'))
    .option('--idempotency-key <key>', 'the same key twice is the same request')
    .option('--verified', 'you verified the identity yourself: no code is sent (recorded as your doing)')
    .option('--json', 'print JSON')
    .action(async (o: { type: RequestType; identity?: { kind: string; value: string }; subject?: { type: string; id: string }; subjectType?: string; law?: Law; idempotencyKey?: string; verified?: boolean; json?: boolean }, command: Command) => {
      if (!o.identity === !o.subject) throw new UsageError('give --identity <kind=value> or --subject <type:id> (one of them)');
      const { request: r, created } = await withRequests(command, (s) =>
        s.service.create({
          type: o.type,
          source: 'cli',
          actor: actor(),
          ...(o.identity ? { identity: o.identity } : {}),
          ...(o.subject ? { subject: o.subject } : {}),
          ...(o.subjectType ? { subjectType: o.subjectType } : {}),
          ...(o.law ? { law: o.law } : {}),
          ...(o.idempotencyKey ? { idempotencyKey: o.idempotencyKey } : {}),
          ...(o.verified ? { verified: true } : {}),
        }),
      );
      if (!created && !o.json) process.stdout.write('(the idempotency key was used before: this is the first request)\n');
      printOne(r, o.json === true);
    });
}

function registerList(request: Command): void {
  request
    .command('list')
    .description('requests, open ones first by nearest deadline')
    .option('--state <states>', `comma-separated: ${REQUEST_STATES.join(', ')}`)
    .option('--subject <type:id>', 'one subject', subjectOption)
    .option('--json', 'print JSON')
    .action(async (o: { state?: string; subject?: { type: string; id: string }; json?: boolean }, command: Command) => {
      const states = o.state?.split(',').map((s) => oneOf(REQUEST_STATES, 'state')(s.trim())) as RequestState[] | undefined;
      const rows = await withRequests(command, (s) => s.service.list({ ...(states ? { states } : {}), ...(o.subject ? { subjectType: o.subject.type, subjectId: o.subject.id } : {}) }));
      if (o.json) return void process.stdout.write(`${JSON.stringify(rows.map(publicView), null, 2)}\n`);
      const now = clockFromEnv().now();
      for (const r of rows) {
        const due = r.closedAt === null ? (r.deadline < now ? 'OVERDUE' : `due ${day(r.deadline)}`) : `closed ${day(r.closedAt)}`;
        process.stdout.write(`${r.id}  ${r.type.padEnd(7)} ${r.state.padEnd(24)} ${(r.subjectType && r.subjectId ? `${r.subjectType}:${r.subjectId}` : '-').padEnd(20)} ${due}\n`);
      }
      if (rows.length === 0) process.stdout.write('no requests\n');
    });
}

function registerShow(request: Command): void {
  request
    .command('show')
    .argument('<id>')
    .description('one request with its history')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }, command: Command) => {
      const { request: r, transitions } = await withRequests(command, (s) => s.service.show(id));
      if (o.json) return void process.stdout.write(`${JSON.stringify({ ...publicView(r), transitions }, null, 2)}\n`);
      printOne(r, false);
      for (const t of transitions) process.stdout.write(`  ${new Date(t.at).toISOString()}  ${(t.from ?? '').padEnd(20)} -> ${t.to.padEnd(24)} ${t.actor}${t.reason ? `: ${t.reason}` : ''}\n`);
    });
}

function registerReport(request: Command): void {
  request
    .command('report')
    .argument('<id>')
    .description('the proof of a request: the request, what was kept and why, the proof of each erasure')
    .option('-f, --format <format>', 'md, json or html', 'md')
    .action(async (id: string, o: { format: string }, command: Command) => {
      if (!['md', 'json', 'html'].includes(o.format)) throw new UsageError(`--format ${o.format}: one of md, json, html`);
      const { text } = await withRequests(command, (s) => s.reports.render(id, o.format as 'md'));
      process.stdout.write(text);
    });

  request
    .command('export')
    .argument('<id>')
    .description("an access request's copy of the person's data (JSON), until it expires; the read is recorded as yours")
    .option('--out <file>', 'write it to this file (created readable by you only) instead of stdout')
    .action(async (id: string, o: { out?: string }, command: Command) => {
      const content = await withRequests(command, (s) => new AccessExports(s.service).read(id, actor()));
      if (!o.out) return void process.stdout.write(content);
      await writeFile(o.out, content, { mode: 0o600, flag: 'wx' }).catch((error: NodeJS.ErrnoException) => {
        throw new UsageError(`--out ${o.out}: ${error.code === 'EEXIST' ? 'the file exists (not overwritten)' : (error.code ?? error.message)}`);
      });
      process.stderr.write(`wrote the access export of ${id} to ${o.out}\n`);
    });
}

function registerMoves(request: Command): void {
  const move = (name: string, description: string, configure: (c: Command) => Command, run: (s: RequestSystem, id: string, o: Record<string, string>) => Promise<RequestRow>) =>
    configure(request.command(name).argument('<id>').description(description).option('--json', 'print JSON')).action(async (id: string, o: Record<string, string>, command: Command) => {
      printOne(await withRequests(command, (s) => run(s, id, o)), Boolean(o.json));
    });
  move('verify', 'record that you verified the identity by hand', (c) => c.option('--note <text>', 'how'), (s, id, o) => s.service.verifyByOperator(id, actor(), o.note));
  move('approve', 'approve a request awaiting approval', (c) => c, (s, id) => s.service.approve(id, actor()));
  move('deny', 'deny a request, with a reason code', (c) => c.requiredOption('--reason <code>', DENIAL_REASONS.join(', '), oneOf(DENIAL_REASONS, 'reason')).option('--note <text>', 'details kept with the denial'), (s, id, o) => s.service.deny(id, o.reason as DenialReason, actor(), o.note));
  move('retry', 'execute again a request whose execution failed (after fixing why)', (c) => c, (s, id) => s.service.retry(id, actor()));
  move('cancel', 'cancel a request before it is executed', (c) => c.option('--reason <text>', 'why'), (s, id, o) => s.service.cancel(id, actor(), o.reason));
  move(
    'extend',
    "extend the deadline once, within the law's bound, with the reason the person is told",
    (c) => c.requiredOption('--reason <text>', 'why more time is needed').option('--until <date>', 'YYYY-MM-DD (default: the longest the law allows)'),
    (s, id, o) => {
      if (o.until && !/^\d{4}-\d{2}-\d{2}$/.test(o.until)) throw new UsageError('--until: a date as YYYY-MM-DD');
      return s.service.extend(id, o.reason!, actor(), o.until ? Date.parse(`${o.until}T23:59:59Z`) : undefined);
    },
  );
}
