import { Redis } from 'ioredis';
import { delimiterClash, escapeGlob, expand, isPattern, placeholders } from '../src/catalog/key-template.js';
import { formatQualifiedName } from '../src/catalog/identifiers.js';
import type { SinksConfig } from '../src/catalog/sinks.js';
import type { SubjectErased } from '../src/cdc/erasure-manifest.js';
import { errorKind, InvariantError, LetheError, reasonOf, RecordError, ServiceUnavailableError } from '../src/errors.js';
import { rowValues, subjectValues } from '../src/events/subject-values.js';
import { targetName } from '../src/catalog/targets.js';
import { asBytes, commonPrefix, globToRegExp, literalPrefix } from './redis-glob.js';
import type { SinkConnector, TargetResult } from './sink-connector.js';
import { SharedScans } from './shared-scans.js';

/**
 * SCAN's COUNT: a pass is one round trip per page over the whole keyspace, so pages of 2,000
 * entries (about 0.3 ms of the server's time each, measured here) take a quarter of the trips of 500.
 */
const SCAN_PAGE = 2000;
const UNLINK_CHUNK = 500;

type Op =
  | { slot: number; kind: 'key'; key: string }
  | { slot: number; kind: 'pattern'; pattern: string; template: string }
  | { slot: number; kind: 'hash'; key: string; field: string }
  | { slot: number; kind: 'member'; key: string; member: string };
type PatternOp = Extract<Op, { kind: 'pattern' }>;
/** A command and its arguments; a key as bytes when it need not be valid UTF-8 (ioredis sends a Buffer as its bytes). */
type Command = [string, ...Array<string | Buffer>];
interface Step {
  slot: number;
  command: Command;
  read: (reply: unknown) => unknown;
}

/**
 * Redis: UNLINK the keys named by templates (patterns through SCAN MATCH in bounded pages, never
 * KEYS), HDEL hash fields, SREM/ZREM members (by the key's type), and the keys of the manifest's
 * related rows; then verify that none of it exists any more.
 */
export class RedisConnector implements SinkConnector {
  readonly sink = 'redis' as const;
  private readonly redis: Redis;
  /** Each pass walks the whole keyspace: the applies running at once share those with the same MATCH. */
  private readonly scans = new SharedScans<readonly Buffer[]>((match) => this.scan(match));

  constructor(private readonly config: NonNullable<SinksConfig['redis']>) {
    this.redis = new Redis(config.url, { maxRetriesPerRequest: 2, lazyConnect: false });
    this.redis.on('error', () => undefined); // surfaced by the commands that fail
  }

  handles(subjectType: string): boolean {
    return this.config.subjects.has(subjectType);
  }

  async apply(events: readonly SubjectErased[]): Promise<TargetResult[][]> {
    // Every target of every event becomes a slot; its operations run in pipelines across the
    // whole batch (one round trip per phase, not per key), patterns through SCAN.
    const slots: Array<{ event: number; result: TargetResult }> = [];
    const ops: Op[] = [];
    events.forEach((event, i) => {
      const s = this.config.subjects.get(event.subjectType);
      if (!s) return;
      const slot = (target: string) => slots.push({ event: i, result: { target, affected: 0, residual: 0 } }) - 1;
      const failer = (n: number) => (reason: string) => {
        const result = slots[n]!.result;
        result.failed = result.failed ?? `${result.target}: ${reason}`;
      };
      const values = subjectValues(event);
      for (const template of s.keys) {
        const n = slot(targetName.redisKey(template));
        this.keyOps(n, template, [values], ops, failer(n));
      }
      // Exact names: only a value holding the text between two of its placeholders is in doubt.
      const ambiguous = (n: number, ...templates: string[]) => {
        const clash = templates.map((t) => delimiterClash(t, values, false)).find((c) => c !== undefined);
        if (clash) failer(n)(`a value of ${clash.placeholder} holds '${clash.delimiter}', which separates it from another placeholder, so the name could be another subject's; not erased`);
        return clash !== undefined;
      };
      for (const { key, field } of s.hashFields) {
        const n = slot(targetName.redisHashField(key, field));
        if (!ambiguous(n, key, field)) ops.push({ slot: n, kind: 'hash', key: expand(key, values)!, field: expand(field, values)! });
      }
      for (const { key, member } of s.setMembers) {
        const n = slot(targetName.redisSetMember(key, member));
        if (!ambiguous(n, key, member)) ops.push({ slot: n, kind: 'member', key: expand(key, values)!, member: expand(member, values)! });
      }
      for (const { table, templates } of s.related) {
        const rows = event.related.filter((r) => r.table === formatQualifiedName(table)).map((r) => rowValues(event, r));
        for (const template of templates) {
          const n = slot(targetName.redisRelatedKey(table, template));
          this.keyOps(n, template, rows, ops, failer(n));
        }
      }
    });
    try {
      await this.run(ops, slots.map((x) => x.result));
    } catch (error) {
      throw translate(error);
    }
    const out: TargetResult[][] = events.map(() => []);
    for (const { event, result } of slots) out[event]!.push(result);
    return out;
  }

  /**
   * The operations of one key template for each value set (the subject, or each related row). A
   * value set the template cannot name exactly fails the target, naming why, while the others
   * still apply: a related row whose event carries no key (its table has no primary key), or a
   * value holding the delimiter beside its placeholder in a pattern (it would reach another
   * subject's keys).
   */
  private keyOps(slot: number, template: string, valueSets: ReturnType<typeof subjectValues>[], ops: Op[], fail: (reason: string) => void): void {
    for (const values of valueSets) {
      const pattern = isPattern(template);
      const expanded = expand(template, values, pattern ? escapeGlob : undefined);
      if (expanded === undefined) {
        const missing = placeholders(template, true).filter((p) => p.startsWith('row.') && values.row?.[p.slice(4)] === undefined);
        fail(`a related row carries no ${missing.map((p) => p.slice(4)).join(', ')} (the event names related rows by their primary key only; does the table have one?)`);
        continue;
      }
      const clash = delimiterClash(template, values, pattern);
      if (clash) {
        fail(
          pattern
            ? `a value of ${clash.placeholder} holds '${clash.delimiter}', the delimiter beside it in the pattern, so the pattern would reach other subjects' keys; not scanned`
            : `a value of ${clash.placeholder} holds '${clash.delimiter}', which separates it from another placeholder, so the key could be another subject's; not erased`,
        );
        continue;
      }
      ops.push(pattern ? { slot, kind: 'pattern', pattern: expanded, template } : { slot, kind: 'key', key: expanded });
    }
  }

  /**
   * Applies, then verifies, every operation; adds counts to the results by slot. Two pipelines
   * and the SCAN passes: the member keys' types, the UNLINKs and the HDELs in one, while the
   * patterns are scanned; then the SREM/ZREMs, the UNLINKs of the keys the patterns found and
   * every exact check in the other (one connection: Redis runs them in that order, so the checks
   * see the removals); then the patterns are scanned again for what is left.
   */
  private async run(ops: Op[], results: TargetResult[]): Promise<void> {
    const members = ops.filter((o): o is Extract<Op, { kind: 'member' }> => o.kind === 'member');
    const first: Step[] = members.map((m) => ({ slot: m.slot, command: ['type', m.key], read: String }));
    const checks: Step[] = [];
    for (const op of ops) {
      if (op.kind === 'key') {
        first.push({ slot: op.slot, command: ['unlink', op.key], read: Number });
        checks.push({ slot: op.slot, command: ['exists', op.key], read: Number });
      } else if (op.kind === 'hash') {
        first.push({ slot: op.slot, command: ['hdel', op.key, op.field], read: Number });
        checks.push({ slot: op.slot, command: ['hexists', op.key, op.field], read: Number });
      }
    }
    const patterns = ops.filter((o): o is PatternOp => o.kind === 'pattern');
    const passes = planScans(patterns);
    const [replies, found] = await both(this.pipeline(first), this.scanPatterns(passes, patterns.length));
    for (let i = members.length; i < first.length; i++) results[first[i]!.slot]!.affected += replies[i] as number;
    const second: Step[] = [];
    members.forEach((op, i) => {
      const type = replies[i];
      if (type === 'set') {
        second.push({ slot: op.slot, command: ['srem', op.key, op.member], read: Number });
        checks.push({ slot: op.slot, command: ['sismember', op.key, op.member], read: Number });
      } else if (type === 'zset') {
        second.push({ slot: op.slot, command: ['zrem', op.key, op.member], read: Number });
        checks.push({ slot: op.slot, command: ['zscore', op.key, op.member], read: (v) => (v === null ? 0 : 1) });
      } else if (type !== 'none') {
        results[op.slot]!.failed = `key is a ${String(type)}, not a set or sorted set`;
      }
    });
    for (const [n, p] of patterns.entries()) {
      const keys = found[n]!;
      for (let i = 0; i < keys.length; i += UNLINK_CHUNK) second.push({ slot: p.slot, command: ['unlink', ...keys.slice(i, i + UNLINK_CHUNK)], read: Number });
    }
    const removals = second.length;
    const replies2 = await this.pipeline([...second, ...checks]);
    replies2.forEach((reply, i) => {
      const step = i < removals ? second[i]! : checks[i - removals]!;
      results[step.slot]![i < removals ? 'affected' : 'residual'] += reply as number;
    });
    const left = await this.scanPatterns(passes, patterns.length);
    patterns.forEach((p, n) => (results[p.slot]!.residual += left[n]!.length));
  }

  /** The keys matching each of `count` patterns, by the passes `planScans` made of them. */
  private async scanPatterns(passes: readonly ScanPass[], count: number): Promise<Array<readonly Buffer[]>> {
    // A pass's keys may be shared with other applies (SharedScans): read, never changed.
    const found: Buffer[][] = Array.from({ length: count }, () => []);
    const out: Array<readonly Buffer[]> = found;
    // Each pass walks the keyspace page by page; the passes of different templates go at once.
    const settled = await Promise.allSettled(passes.map((pass) => this.scans.run(pass.match)));
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const scanned = settled.map((r) => (r as PromiseFulfilledResult<readonly Buffer[]>).value);
    for (const [i, pass] of passes.entries()) {
      const keys = scanned[i]!;
      if (pass.one !== undefined) {
        out[pass.one] = keys;
        continue;
      }
      for (const key of keys) {
        const bytes = asBytes(key);
        for (const length of pass.prefixLengths) {
          for (const m of pass.byPrefix.get(bytes.slice(0, length)) ?? []) if (m.regex.test(bytes)) found[m.n]!.push(key);
        }
      }
    }
    return out;
  }

  /** One round trip for many commands; each reply read by its step. */
  private async pipeline(steps: Step[]): Promise<unknown[]> {
    if (steps.length === 0) return [];
    const replies = (await this.redis.pipeline(steps.map((s) => s.command)).exec()) ?? [];
    return replies.map(([error, value], i) => {
      if (error) throw error;
      return steps[i]!.read(value);
    });
  }

  /** SCAN MATCH in bounded pages; keys as bytes, since a key need not be valid UTF-8. */
  private async scan(pattern: string | Buffer): Promise<Buffer[]> {
    const found = new Map<string, Buffer>();
    let cursor = '0';
    do {
      // callBuffer: ioredis types a MATCH as a string, but sends a Buffer as its bytes.
      const [next, keys] = (await this.redis.callBuffer('scan', cursor, 'MATCH', pattern, 'COUNT', SCAN_PAGE)) as [Buffer, Buffer[]];
      for (const key of keys) found.set(key.toString('latin1'), key);
      cursor = next.toString();
    } while (cursor !== '0');
    return [...found.values()];
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}

/** Both results; when either fails, its error, once the other has ended too (never left unhandled). */
async function both<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [x, y] = await Promise.allSettled([a, b]);
  if (x.status === 'rejected') throw x.reason;
  if (y.status === 'rejected') throw y.reason;
  return [x.value, y.value];
}

/**
 * One SCAN over the keyspace: for a single pattern (`one`, its index) its own MATCH; for patterns
 * sharing one, the MATCH on their common prefix, each key then tested against the patterns whose
 * literal prefix it starts with.
 */
type ScanPass =
  | { match: string; one: number }
  | { match: Buffer; one?: undefined; prefixLengths: number[]; byPrefix: Map<string, Array<{ n: number; regex: RegExp }>> };

/**
 * Every SCAN walks the whole keyspace, whatever its MATCH, so the patterns one template gives for
 * a batch of subjects share one pass instead of one pass each. A pattern alone, or one the client
 * cannot match exactly (a character class), keeps a pass of its own.
 */
function planScans(patterns: readonly PatternOp[]): ScanPass[] {
  const byTemplate = new Map<string, Array<{ n: number; regex: RegExp | undefined }>>();
  patterns.forEach((p, n) => {
    const members = byTemplate.get(p.template) ?? [];
    members.push({ n, regex: globToRegExp(p.pattern) });
    byTemplate.set(p.template, members);
  });
  const passes: ScanPass[] = [];
  for (const members of byTemplate.values()) {
    const shared = members.filter((m): m is { n: number; regex: RegExp } => m.regex !== undefined);
    for (const m of shared.length > 1 ? members.filter((x) => x.regex === undefined) : members) passes.push({ match: patterns[m.n]!.pattern, one: m.n });
    if (shared.length <= 1) continue;
    // In bytes: a common prefix of strings could end inside a character, one of bytes is exact.
    const prefixes = shared.map((m) => asBytes(literalPrefix(patterns[m.n]!.pattern)));
    const byPrefix = new Map<string, Array<{ n: number; regex: RegExp }>>();
    shared.forEach((m, i) => {
      const list = byPrefix.get(prefixes[i]!) ?? [];
      list.push(m);
      byPrefix.set(prefixes[i]!, list);
    });
    passes.push({ match: Buffer.from(`${escapeGlob(commonPrefix(prefixes))}*`, 'latin1'), prefixLengths: [...new Set(prefixes.map((p) => p.length))], byPrefix });
  }
  return passes;
}

/**
 * Replies that mean the server cannot serve yet (loading its data, a failover, a busy script,
 * out of memory) or will not serve Lethe (credentials or permissions, which an operator fixes
 * for every record at once), not that the command is wrong for this record.
 */
const UNAVAILABLE_REPLY = /^(LOADING|BUSY|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|NOREPLICAS|OOM|MISCONF|NOAUTH|WRONGPASS|NOPERM)\b|^ERR max number of clients reached/;

/**
 * Redis errors in one place: connection trouble and the replies of a server that cannot serve yet
 * are a wait; any other error reply (a command the data refuses, e.g. WRONGTYPE) is the record's.
 */
export function translate(error: unknown): LetheError {
  if (error instanceof LetheError) return error;
  // A bug in the connector is neither an outage nor the record's fault: never waited on.
  if (errorKind(error) === 'programmer') return new InvariantError(`redis connector: ${reasonOf(error)}`, { cause: error });
  const message = reasonOf(error);
  const replyError = error instanceof Error && error.name === 'ReplyError';
  if (replyError && !UNAVAILABLE_REPLY.test(message)) return new RecordError('REDIS_REJECTED', `redis: ${message}`, { cause: error });
  return new ServiceUnavailableError('redis', message, { cause: error });
}
