import { describe, expect, it } from 'vitest';
import { errors as esErrors } from '@elastic/elasticsearch';
import { ReplyError } from 'ioredis';
import { translate as bigQueryError } from '../../connectors/bigquery-connector.js';
import { translate as elasticsearchError } from '../../connectors/elasticsearch-connector.js';
import { translate as redisError } from '../../connectors/redis-connector.js';
import { errorOf, outcomeOf } from '../../connectors/sink-connector.js';
import { escapeGlob, expand, isPattern, placeholders } from '../../src/catalog/key-template.js';
import { parseCatalog } from '../../src/catalog/catalog.js';
import { catalogProblems } from '../support/catalog-problems.js';
import { errorKind, LetheError, ServiceUnavailableError } from '../../src/errors.js';
import { FAST_RETRY, retry } from '../../src/retry.js';

describe('key templates', () => {
  const values = { subject: '4*2', key: { tenant: 'acme', id: '42' }, row: { id: '9001' } };

  it('expands subject, key and row placeholders', () => {
    expect(expand('user:{subject}', values)).toBe('user:4*2');
    expect(expand('acct:{key.tenant}:{key.id}', values)).toBe('acct:acme:42');
    expect(expand('order:{row.id}', values)).toBe('order:9001');
    expect(expand('order:{row.missing}', values)).toBeUndefined();
  });

  it('escapes substituted values in patterns, never the pattern itself', () => {
    expect(isPattern('session:{subject}:*')).toBe(true);
    expect(isPattern('user:{subject}')).toBe(false);
    expect(expand('session:{subject}:*', values, escapeGlob)).toBe('session:4\\*2:*');
  });

  it('rejects unknown placeholders, rows where not allowed, unbalanced braces', () => {
    expect(placeholders('a:{subject}:{key.id}', false)).toEqual(['subject', 'key.id']);
    expect(() => placeholders('a:{subjct}', false)).toThrow(/unknown placeholder \{subjct\}/);
    expect(() => placeholders('a:{row.id}', false)).toThrow(/unknown placeholder/);
    expect(() => placeholders('a:{subject', false)).toThrow(/unbalanced/);
  });

  it('are checked when the catalog loads, with the path', () => {
    const base = `source: { url: x }\nkafka: { brokers: b:1, schemaRegistry: "http://r" }\nsubjects:\n  user: { table: users, key: id, related: [{ table: orders, subjectColumn: user_id }] }\n`;
    const problems = (text: string) => catalogProblems(base + text);
    expect(problems(`sinks:\n  redis: { url: "redis://x", user: { keys: ["u:{subjet}"] } }\n`)[0]).toMatchObject({ path: 'sinks.redis.user.keys[0]' });
    expect(problems(`sinks:\n  redis: { url: "redis://x", usr: { keys: ["u:{subject}"] } }\n`)[0]).toMatchObject({ path: 'sinks.redis.usr', message: expect.stringMatching(/no subject type usr/) });
    expect(problems(`sinks:\n  compacted: { user: [{ topic: t, key: "{row.id}" }] }\n`)[0]).toMatchObject({ path: 'sinks.compacted.user[0].key' });
    expect(problems(`sinks:\n  compacted: { user: [{ topic: t, key: "{row.id}", related: payments }] }\n`)[0]).toMatchObject({
      path: 'sinks.compacted.user[0].related',
      message: expect.stringMatching(/not a related table/),
    });
    // A misspelt key column would expand to nothing and erase nothing: refused at load.
    expect(problems(`sinks:\n  redis: { url: "redis://x", user: { hashFields: [{ key: h, field: "{key.idd}" }] } }\n`)[0]).toMatchObject({
      path: 'sinks.redis.user.hashFields[0].field',
      message: expect.stringMatching(/idd is not a key column of subject user \(key: id\)/),
    });
    expect(problems(`sinks:\n  compacted: { user: [{ topic: t, key: "{key.id}" }] }\n`)).toEqual([]);
  });
});

describe('match fields', () => {
  const base = `source: { url: x }\nkafka: { brokers: b:1, schemaRegistry: "http://r" }\nsubjects:\n  account: { table: '"Crm"."Accounts"', key: [tenant, '"AccountId"'] }\n  user: { table: users, key: id }\n`;
  const parse = (text: string) => parseCatalog(base + text, {});
  const problems = (text: string) => catalogProblems(base + text);

  it('are the key columns\' fields in key order, whichever way the columns are named', () => {
    const catalog = parse(`sinks:
  elasticsearch: { node: "http://es", account: [{ index: a, match: { AccountId: acct_no, tenant: tenant_code }, action: delete }], user: [{ index: u, match: user_id, action: delete }] }
  bigquery: { projectId: p, account: [{ table: d.t, match: { '"AccountId"': acct_no, TENANT: tenant_code }, action: delete }] }
`);
    expect(catalog.sinks.elasticsearch!.subjects.get('account')![0]!.match).toEqual(['tenant_code', 'acct_no']);
    expect(catalog.sinks.elasticsearch!.subjects.get('user')![0]!.match).toEqual(['user_id']);
    expect(catalog.sinks.bigquery!.subjects.get('account')![0]!.match).toEqual(['tenant_code', 'acct_no']);
  });

  it('refuse one field for a composite key, unknown and missing key columns, with the path', () => {
    expect(problems(`sinks:\n  elasticsearch: { node: "http://es", account: [{ index: a, match: account_id, action: delete }] }\n`)[0]).toMatchObject({
      path: 'sinks.elasticsearch.account[0].match',
      message: expect.stringMatching(/composite key \(tenant, AccountId\)/),
    });
    const wrong = problems(`sinks:\n  bigquery: { projectId: p, account: [{ table: d.t, match: { tenant: t, acount: a }, action: delete }] }\n`);
    expect(wrong).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: 'sinks.bigquery.account[0].match.acount', message: expect.stringMatching(/not a key column/) }),
        expect.objectContaining({ path: 'sinks.bigquery.account[0].match', message: expect.stringMatching(/no field for key column AccountId/) }),
      ]),
    );
  });
});

describe('ack outcomes', () => {
  it('folds a target result into an outcome, verification first', () => {
    expect(outcomeOf({ target: 't', affected: 3, residual: 0 })).toBe('APPLIED');
    expect(outcomeOf({ target: 't', affected: 0, residual: 0 })).toBe('NOTHING_TO_DO');
    expect(outcomeOf({ target: 't', affected: 3, residual: 1 })).toBe('FAILED');
    expect(outcomeOf({ target: 't', affected: 0, residual: 2, deferred: 'streaming buffer' })).toBe('DEFERRED');
    expect(outcomeOf({ target: 't', affected: 0, residual: 0, failed: 'not compacted' })).toBe('FAILED');
    expect(errorOf({ target: 't', affected: 3, residual: 1 })).toMatch(/verification found 1 remaining/);
    expect(errorOf({ target: 't', affected: 3, residual: 0 })).toBeNull();
  });
});

describe('retry', () => {
  it('retries retriable errors until success, with growing bounded backoff', async () => {
    const delays: number[] = [];
    let calls = 0;
    const value = await retry(
      async () => {
        calls += 1;
        if (calls < 3) throw new LetheError('X', 'transient', { retriable: true });
        return 'done';
      },
      { attempts: 5, ...FAST_RETRY, onRetry: (_e, _n, d) => delays.push(d) },
    );
    expect(value).toBe('done');
    expect(calls).toBe(3);
    expect(delays.every((d) => d >= 0 && d <= FAST_RETRY.maxDelayMs)).toBe(true);
  });

  it('gives up at once on a permanent error and after the last attempt otherwise', async () => {
    let calls = 0;
    await expect(
      retry(async () => {
        calls += 1;
        throw new LetheError('BAD', 'permanent');
      }, { attempts: 5, ...FAST_RETRY }),
    ).rejects.toThrow('permanent');
    expect(calls).toBe(1);
    calls = 0;
    await expect(
      retry(async () => {
        calls += 1;
        throw new Error('flaky');
      }, { attempts: 3, ...FAST_RETRY }),
    ).rejects.toThrow('flaky');
    expect(calls).toBe(3);
  });

  it('stops waiting when the signal aborts', async () => {
    const controller = new AbortController();
    const running = retry(async () => {
      throw new Error('down');
    }, { attempts: Infinity, initialDelayMs: 10_000, maxDelayMs: 10_000, signal: controller.signal, onRetry: () => controller.abort(new Error('stopped')) });
    await expect(running).rejects.toThrow();
  });
});

describe('retry classification', () => {
  /** The kind of a translated error, and the server it waits for when it is a wait. */
  const verdict = (error: LetheError) => ({ kind: errorKind(error), service: error instanceof ServiceUnavailableError ? error.service : undefined });
  const wait = (service: string) => ({ kind: 'infrastructure', service });
  const own = { kind: 'record', service: undefined };

  it("Redis: a server that cannot serve yet and connection trouble are a wait, a command the data refuses is the record's", () => {
    expect(verdict(redisError(new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value')))).toEqual(own);
    expect(verdict(redisError(new ReplyError('ERR syntax error')))).toEqual(own);
    for (const reply of ['LOADING Redis is loading the dataset in memory', "READONLY You can't write against a read only replica.", 'MASTERDOWN Link with MASTER is down', 'BUSY Redis is busy running a script', 'OOM command not allowed when used memory > maxmemory', 'NOAUTH Authentication required.', 'WRONGPASS invalid username-password pair']) {
      expect(verdict(redisError(new ReplyError(reply))), reply).toEqual(wait('redis'));
    }
    expect(verdict(redisError(new Error('connect ECONNREFUSED 127.0.0.1:6379')))).toEqual(wait('redis'));
    expect(verdict(redisError(new Error('Connection is closed.')))).toEqual(wait('redis'));
  });

  it("Elasticsearch: timeouts, overload, server errors and connection errors are a wait, a rejected request is the record's", () => {
    const response = (statusCode: number) => new esErrors.ResponseError({ body: { error: { type: 't', reason: 'r' } }, statusCode, headers: {}, warnings: null, meta: {} } as never);
    // Refused credentials are fixed by an operator for every record at once: a wait, not a dead letter each.
    for (const status of [401, 403, 408, 409, 429, 500, 502, 503]) expect(verdict(elasticsearchError(response(status))), String(status)).toEqual(wait('elasticsearch'));
    for (const status of [400, 404]) expect(verdict(elasticsearchError(response(status))), String(status)).toEqual(own);
    // A bug in the connector is neither: it ends the sink instead of passing for an outage.
    expect(errorKind(elasticsearchError(new TypeError("Cannot read properties of undefined (reading 'status')")))).toBe('programmer');
    expect(errorKind(redisError(new TypeError('x is not a function')))).toBe('programmer');
    expect(errorKind(bigQueryError(new RangeError('Invalid array length')))).toBe('programmer');
    expect(verdict(elasticsearchError(new esErrors.ConnectionError('connect ECONNREFUSED 127.0.0.1:9200')))).toEqual(wait('elasticsearch'));
    expect(verdict(elasticsearchError(new esErrors.TimeoutError('Request timed out')))).toEqual(wait('elasticsearch'));
    expect(verdict(elasticsearchError(new Error('socket hang up')))).toEqual(wait('elasticsearch'));
  });

  it("BigQuery: quota, rate, concurrent updates, server errors and no HTTP status at all are a wait, a bad query is the record's", () => {
    const failure = (code: number | string, message: string) => Object.assign(new Error(message), { code });
    expect(verdict(bigQueryError(failure(403, 'Exceeded rate limits: rateLimitExceeded')))).toEqual(wait('bigquery'));
    expect(verdict(bigQueryError(failure(400, 'Could not serialize access to table due to concurrent update')))).toEqual(wait('bigquery'));
    expect(verdict(bigQueryError(failure(500, 'backendError')))).toEqual(wait('bigquery'));
    expect(verdict(bigQueryError(failure(503, 'Service Unavailable')))).toEqual(wait('bigquery'));
    // The emulator unreachable: a socket error whose code is a string, not an HTTP status.
    expect(verdict(bigQueryError(failure('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:9050')))).toEqual(wait('bigquery'));
    expect(verdict(bigQueryError(failure('ECONNRESET', 'socket hang up')))).toEqual(wait('bigquery'));
    expect(verdict(bigQueryError(failure(400, 'Unrecognized name: user_idd')))).toEqual(own);
    expect(verdict(bigQueryError(failure(404, 'Not found: Table p:d.t')))).toEqual(own);
    // A LetheError keeps its own verdict.
    const schema = new LetheError('BIGQUERY_SCHEMA', 'table d.t has no column x');
    expect(bigQueryError(schema)).toBe(schema);
    expect(verdict(schema)).toEqual(own);
  });

  it('every translator keeps a thrown non-Error a wait instead of failing on it', () => {
    for (const translate of [redisError, elasticsearchError, bigQueryError]) {
      expect(errorKind(translate(undefined))).toBe('infrastructure');
      expect(errorKind(translate('boom'))).toBe('infrastructure');
    }
  });
});
