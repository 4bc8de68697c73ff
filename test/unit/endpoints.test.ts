import { describe, expect, it } from 'vitest';
import { missingVariables, parseEnvFile, resolveEndpoints } from '../../src/stack/endpoints.js';

const complete = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:55432/lethe',
  KAFKA_BROKERS: '127.0.0.1:59092, 127.0.0.1:59094',
  SCHEMA_REGISTRY_URL: 'http://127.0.0.1:58081',
  REDIS_URL: 'redis://127.0.0.1:56379',
  ELASTICSEARCH_URL: 'http://127.0.0.1:59200',
  BIGQUERY_API_ENDPOINT: 'http://127.0.0.1:59050',
  BIGQUERY_PROJECT_ID: 'lethe-local',
  SMTP_URL: 'smtp://127.0.0.1:51025',
  MAILPIT_URL: 'http://127.0.0.1:58025',
};

describe('stack endpoints', () => {
  it('parses the env file make up writes, ignoring comments and blank lines', () => {
    const text = '# written by make up\n\nDATABASE_URL=postgres://h:1/db?x=a=b\nREDIS_URL=redis://h:2\n';
    expect(parseEnvFile(text)).toEqual({ DATABASE_URL: 'postgres://h:1/db?x=a=b', REDIS_URL: 'redis://h:2' });
  });

  it('names the missing variables', () => {
    const { REDIS_URL: _, ...withoutRedis } = complete;
    expect(missingVariables({ ...withoutRedis, ELASTICSEARCH_URL: '' })).toEqual(['REDIS_URL', 'ELASTICSEARCH_URL']);
    expect(missingVariables(complete)).toEqual([]);
  });

  it('resolves typed endpoints, splitting the broker list', () => {
    const e = resolveEndpoints(complete);
    expect(e.kafkaBrokers).toEqual(['127.0.0.1:59092', '127.0.0.1:59094']);
    expect(e.bigqueryProjectId).toBe('lethe-local');
    expect(e.smtpUrl).toBe('smtp://127.0.0.1:51025');
    expect(e.mailpitUrl).toBe('http://127.0.0.1:58025');
  });

  it('names a missing SMTP or Mailpit endpoint', () => {
    const { SMTP_URL: _, MAILPIT_URL: __, ...withoutMail } = complete;
    expect(missingVariables(withoutMail)).toEqual(['SMTP_URL', 'MAILPIT_URL']);
  });

  it('accepts smtps:// and refuses an SMTP_URL of another scheme, naming the variable', () => {
    expect(resolveEndpoints({ ...complete, SMTP_URL: 'smtps://u:p@mail.example:465' }).smtpUrl).toBe(
      'smtps://u:p@mail.example:465',
    );
    expect(() => resolveEndpoints({ ...complete, SMTP_URL: 'http://127.0.0.1:51025' })).toThrow(/SMTP_URL/);
  });

  it('refuses a malformed value and names the variable', () => {
    expect(() => resolveEndpoints({ ...complete, SCHEMA_REGISTRY_URL: 'not a url' })).toThrow(/SCHEMA_REGISTRY_URL/);
  });
});
