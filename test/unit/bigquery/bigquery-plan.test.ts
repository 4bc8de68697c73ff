import { describe, expect, it } from 'vitest';
import { bigQueryId, columnProblem, planBigQuery } from '../../../connectors/bigquery-plan.js';
import type { BqTarget } from '../../../src/catalog/sinks.js';

const subjects = (...keys: string[][]) => keys.map((values) => ({ id: bigQueryId(values), values }));
const types = (entries: Record<string, string>) => new Map(Object.entries(entries));

describe('BigQuery planning', () => {
  const events: BqTarget = { table: 'wh.events', match: ['user_id'], action: { kind: 'delete' } };

  it('chunks subjects per statement, keys as one STRING array per match column, counted per subject by offset', () => {
    const { plans, refused } = planBigQuery('p', events, subjects(['1'], ['2'], ['3'], ['4'], ['5']), 2, types({ user_id: 'STRING' }));
    expect(refused.size).toBe(0);
    expect(plans.map((p) => [p.ids, p.params.k0])).toEqual([[['1', '2'], ['1', '2']], [['3', '4'], ['3', '4']], [['5'], ['5']]]);
    expect(plans[0]!.dml).toBe('DELETE FROM `p.wh.events` WHERE `user_id` IN (SELECT __lethe_k FROM UNNEST(@k0) AS __lethe_k)');
    expect(plans[0]!.count).toBe(
      'SELECT __lethe_key.__lethe_i AS lethe_i, COUNT(*) AS n FROM `p.wh.events` JOIN (SELECT __lethe_i, __lethe_k AS __lethe_c0 FROM UNNEST(@k0) AS __lethe_k WITH OFFSET AS __lethe_i) AS __lethe_key ON `user_id` = __lethe_key.__lethe_c0 WHERE TRUE GROUP BY __lethe_key.__lethe_i',
    );
    expect(plans[0]!.types).toEqual({ k0: ['STRING'] });
    // No CAST(column AS STRING) anywhere: the column is compared in its own type.
    expect(plans[0]!.count).not.toMatch(/CAST\(`user_id`/);
  });

  it('refuses keys that are not their INT64 column\'s canonical form, naming table and column, and converts the rest on the parameter side', () => {
    const { plans, refused } = planBigQuery('p', events, subjects(['01'], ['1'], ['+1'], ['10']), 500, types({ user_id: 'INT64' }));
    expect([...refused.keys()]).toEqual(['01', '+1']);
    expect(refused.get('01')).toMatch(/^table wh\.events column user_id: the subject's key is not a canonical INT64/);
    expect(refused.get('01')).not.toContain('"01"'); // keys stay out of acks
    expect(plans).toHaveLength(1);
    expect(plans[0]!.ids).toEqual(['1', '10']);
    expect(plans[0]!.dml).toBe('DELETE FROM `p.wh.events` WHERE `user_id` IN (SELECT CAST(__lethe_k AS INT64) FROM UNNEST(@k0) AS __lethe_k)');
  });

  it('compares a composite match column by column, each in its own type, so values holding U+001F cannot conflate', () => {
    const ledger: BqTarget = { table: 'wh.ledger', match: ['tenant_code', 'acct_no'], action: { kind: 'delete' } };
    const { plans, refused } = planBigQuery('p', ledger, subjects(['a\u001fb', '1'], ['a', '01']), 500, types({ tenant_code: 'STRING', acct_no: 'INT64' }));
    expect(refused.get(bigQueryId(['a', '01']))).toMatch(/column acct_no: the subject's key is not a canonical INT64/);
    expect(plans[0]!.params).toEqual({ k0: ['a\u001fb'], k1: ['1'] });
    expect(plans[0]!.dml).toBe(
      'DELETE FROM `p.wh.ledger` WHERE EXISTS (SELECT 1 FROM UNNEST(@k0) AS __lethe_k WITH OFFSET AS __lethe_i WHERE `tenant_code` = __lethe_k AND `acct_no` = CAST(@k1[OFFSET(__lethe_i)] AS INT64))',
    );
    expect(plans[0]!.dml).not.toContain('CONCAT');
    expect(bigQueryId(['a\u001fb', 'c'])).not.toBe(bigQueryId(['a', 'b\u001fc']));
  });

  it('builds UPDATE for null, literal, hash and hmac, each guarded so a done column is never rewritten', () => {
    const orders: BqTarget = {
      table: 'wh.orders',
      match: ['user_id'],
      action: { kind: 'anonymize', columns: { email: { kind: 'null' }, name: { kind: 'literal', value: 'Deleted user' }, phone: { kind: 'hmac', keyId: 'k2026' }, ssn: { kind: 'hash' } } },
    };
    const { plans } = planBigQuery('p', orders, subjects(['7']), 500, types({ user_id: 'INT64', email: 'STRING', name: 'STRING', phone: 'STRING', ssn: 'STRING' }));
    const [plan] = plans;
    const hmacDone = "(`phone` IS NOT NULL AND NOT REGEXP_CONTAINS(`phone`, r'^hmac:[a-z][a-z0-9_]{0,39}:[0-9a-f]{64}$'))";
    const hashDone = "(`ssn` IS NOT NULL AND NOT REGEXP_CONTAINS(`ssn`, r'^[0-9a-f]{64}$'))";
    const match = '`user_id` IN (SELECT CAST(__lethe_k AS INT64) FROM UNNEST(@k0) AS __lethe_k)';
    expect(plan!.dml).toBe(
      'UPDATE `p.wh.orders` SET `email` = NULL, `name` = @v1, ' +
        '`phone` = IFNULL((SELECT @h2[OFFSET(__lethe_j)] FROM UNNEST(@o2) AS __lethe_o WITH OFFSET AS __lethe_j WHERE __lethe_o = `phone`), `phone`), ' +
        `\`ssn\` = IF(${hashDone}, TO_HEX(SHA256(\`ssn\`)), \`ssn\`) ` +
        `WHERE ${match} AND (\`email\` IS NOT NULL OR \`name\` IS DISTINCT FROM @v1 OR ${hmacDone} OR ${hashDone})`,
    );
    expect(plan!.reads).toEqual([{ column: 'phone', keyId: 'k2026', query: `SELECT DISTINCT \`phone\` AS lethe_old FROM \`p.wh.orders\` WHERE ${match} AND ${hmacDone}`, olds: 'o2', pseudonyms: 'h2' }]);
    expect(plan!.params).toEqual({ k0: ['7'], v1: 'Deleted user', o2: [], h2: [] });
    expect(plan!.types).toEqual({ k0: ['STRING'], o2: ['STRING'], h2: ['STRING'] });
  });

  it('names the table and column a target cannot be erased exactly with', () => {
    expect(columnProblem(events, types({ userid: 'INT64' }))).toBe('table wh.events has no column user_id');
    expect(columnProblem(events, types({ user_id: 'FLOAT64' }))).toMatch(/^table wh\.events column user_id: type FLOAT64 cannot be matched exactly/);
    const hmac: BqTarget = { table: 'wh.o', match: ['id'], action: { kind: 'anonymize', columns: { phone: { kind: 'hmac', keyId: 'k' } } } };
    expect(columnProblem(hmac, types({ id: 'INT64', phone: 'INT64' }))).toBe('table wh.o column phone: hmac needs a STRING column, not INT64');
    expect(columnProblem(hmac, types({ id: 'INT64' }))).toBe('table wh.o has no column phone');
    expect(columnProblem(hmac, types({ id: 'INT64', phone: 'STRING' }))).toBeUndefined();
  });
});
