import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { errorKind, ServiceUnavailableError } from '../../../src/errors.js';
import { translatePg } from '../../../src/tracker/status-store.js';

const answer = (code: string) => Object.assign(new pg.DatabaseError(`server said ${code}`, 0, 'error'), { code });

describe("the tracker store's Postgres errors", () => {
  it('the database away (connection, shutdown, failover, resources, a deadlock) is a wait for postgres', () => {
    for (const error of [answer('57P01'), answer('08006'), answer('53300'), answer('40001'), answer('40P01'), answer('58030'), Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }), new Error('connect ECONNREFUSED 127.0.0.1:5432')]) {
      const translated = translatePg(error);
      expect(errorKind(translated), String(error)).toBe('infrastructure');
      expect((translated as ServiceUnavailableError).service).toBe('postgres');
    }
  });

  it('any other answer of the server is a bug in the tracker, never retried in a loop', () => {
    for (const code of ['23505', '42P01', '22P02']) expect(errorKind(translatePg(answer(code))), code).toBe('programmer');
  });
});
