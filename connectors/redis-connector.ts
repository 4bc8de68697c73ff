import { Redis } from 'ioredis';
import { escapeGlob, expand, isPattern } from '../src/catalog/key-template.js';
import { formatQualifiedName } from '../src/catalog/identifiers.js';
import type { RedisSubject, SinksConfig } from '../src/catalog/sinks.js';
import type { SubjectErased } from '../src/cdc/erasure-manifest.js';
import { LetheError } from '../src/errors.js';
import { rowValues, subjectValues } from '../src/events/subject-values.js';
import type { SinkConnector, TargetResult } from './sink-connector.js';

const SCAN_PAGE = 500;
const UNLINK_CHUNK = 500;

/**
 * Redis: UNLINK the keys named by templates (patterns through SCAN MATCH in bounded pages, never
 * KEYS), HDEL hash fields, SREM/ZREM members (by the key's type), and the keys of the manifest's
 * related rows; then verify that none of it exists any more.
 */
export class RedisConnector implements SinkConnector {
  readonly sink = 'redis' as const;
  private readonly redis: Redis;

  constructor(private readonly config: NonNullable<SinksConfig['redis']>) {
    this.redis = new Redis(config.url, { maxRetriesPerRequest: 2, lazyConnect: false });
    this.redis.on('error', () => undefined); // surfaced by the commands that fail
  }

  handles(subjectType: string): boolean {
    return this.config.subjects.has(subjectType);
  }

  async apply(events: readonly SubjectErased[]): Promise<TargetResult[][]> {
    const out: TargetResult[][] = [];
    for (const event of events) {
      const subject = this.config.subjects.get(event.subjectType);
      out.push(subject ? await this.erase(event, subject) : []);
    }
    return out;
  }

  private async erase(event: SubjectErased, s: RedisSubject): Promise<TargetResult[]> {
    const values = subjectValues(event);
    const results: TargetResult[] = [];
    try {
      for (const template of s.keys) {
        results.push({ target: `key ${template}`, ...(await this.unlinkTemplate(template, [values])) });
      }
      for (const { key, field } of s.hashFields) {
        const k = expand(key, values)!;
        const f = expand(field, values)!;
        const affected = await this.redis.hdel(k, f);
        const residual = await this.redis.hexists(k, f);
        results.push({ target: `hash ${key} field ${field}`, affected, residual });
      }
      for (const { key, member } of s.setMembers) {
        results.push({ target: `set ${key} member ${member}`, ...(await this.removeMember(expand(key, values)!, expand(member, values)!)) });
      }
      for (const { table, templates } of s.related) {
        const rows = event.related.filter((r) => r.table === formatQualifiedName(table)).map((r) => rowValues(event, r));
        for (const template of templates) {
          results.push({ target: `related ${formatQualifiedName(table)} key ${template}`, ...(await this.unlinkTemplate(template, rows)) });
        }
      }
    } catch (error) {
      throw translate(error);
    }
    return results;
  }

  private async unlinkTemplate(template: string, valueSets: ReturnType<typeof subjectValues>[]): Promise<Omit<TargetResult, 'target'>> {
    let affected = 0;
    let residual = 0;
    for (const values of valueSets) {
      if (isPattern(template)) {
        const pattern = expand(template, values, escapeGlob);
        if (pattern === undefined) continue;
        const keys = await this.scan(pattern);
        for (let i = 0; i < keys.length; i += UNLINK_CHUNK) affected += await this.redis.unlink(...keys.slice(i, i + UNLINK_CHUNK));
        residual += (await this.scan(pattern)).length;
      } else {
        const key = expand(template, values);
        if (key === undefined) continue;
        affected += await this.redis.unlink(key);
        residual += await this.redis.exists(key);
      }
    }
    return { affected, residual };
  }

  private async removeMember(key: string, member: string): Promise<Omit<TargetResult, 'target'>> {
    const type = await this.redis.type(key);
    if (type === 'none') return { affected: 0, residual: 0 };
    if (type === 'set') {
      const affected = await this.redis.srem(key, member);
      return { affected, residual: await this.redis.sismember(key, member) };
    }
    if (type === 'zset') {
      const affected = await this.redis.zrem(key, member);
      return { affected, residual: (await this.redis.zscore(key, member)) === null ? 0 : 1 };
    }
    return { affected: 0, residual: 0, failed: `key is a ${type}, not a set or sorted set` };
  }

  private async scan(pattern: string): Promise<string[]> {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_PAGE);
      found.push(...keys);
      cursor = next;
    } while (cursor !== '0');
    return [...new Set(found)];
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}

/** Redis errors in one place: connection trouble is retriable, a command error is not. */
function translate(error: unknown): LetheError {
  const message = error instanceof Error ? error.message : String(error);
  const replyError = error instanceof Error && error.name === 'ReplyError';
  return new LetheError('REDIS_ERROR', `redis: ${message}`, { retriable: !replyError, cause: error });
}
