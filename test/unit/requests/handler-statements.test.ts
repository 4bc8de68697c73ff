import { describe, expect, it } from 'vitest';
import type { RequestHandler } from '../../../src/catalog/catalog.js';
import { anonymizeStatement, deleteStatement, needsPseudonym } from '../../../src/requests/handler-statements.js';

const orders: RequestHandler = {
  table: { schema: 'Shop', name: 'Orders' },
  subjectColumns: ['tenant', 'UserId'],
  path: 'subjects.user.onRequest[1]',
  action: { kind: 'anonymize', columns: { address: { kind: 'null' }, note: { kind: 'literal', value: true }, phone: { kind: 'hmac', keyId: 'k1' }, code: { kind: 'hash' } } },
};

describe('handler statements', () => {
  it('match each subject column by its type and by its text, with quoted names and parameters only', () => {
    expect(deleteStatement({ ...orders, action: { kind: 'delete' } }, ['acme', '42'])).toEqual({
      text: 'DELETE FROM "Shop"."Orders" WHERE "tenant" = $1 AND "tenant"::text = $2 AND "UserId" = $3 AND "UserId"::text = $4',
      values: ['acme', 'acme', '42', '42'],
    });
  });

  it('anonymize with each strategy, pseudonyms passed as arrays, and the root\'s erasedWhen column set', () => {
    const statement = anonymizeStatement(orders, ['acme', '42'], new Map([['phone', new Map([['+44 1', 'hmac:k1:ab']])]]), { kind: 'update', column: 'ErasedAt', becomes: { kind: 'not_null' } });
    expect(statement.text).toBe(
      'UPDATE "Shop"."Orders" SET "address" = NULL, "note" = $1, ' +
        '"phone" = coalesce((SELECT m.h FROM unnest($2::text[], $3::text[]) AS m(o, h) WHERE m.o = "phone"::text), "phone"), ' +
        '"code" = CASE WHEN "code" IS NULL OR "code"::text ~ $4 THEN "code" ELSE encode(sha256(convert_to("code"::text, \'UTF8\')), \'hex\') END, ' +
        '"ErasedAt" = now() WHERE "tenant" = $5 AND "tenant"::text = $6 AND "UserId" = $7 AND "UserId"::text = $8',
    );
    expect(statement.values).toEqual(['true', ['+44 1'], ['hmac:k1:ab'], '^[0-9a-f]{64}$', 'acme', 'acme', '42', '42']);
    const equals = anonymizeStatement(orders, ['acme', '42'], new Map(), { kind: 'update', column: 'status', becomes: { kind: 'equals', value: 'erased' } });
    expect(equals.text).toContain('"status" = $5 WHERE');
    expect(equals.values[4]).toBe('erased');
  });

  it('pseudonymizes only values that are not NULL and not already a pseudonym of any key', () => {
    expect(needsPseudonym(null)).toBe(false);
    expect(needsPseudonym(`hmac:old_key:${'a'.repeat(64)}`)).toBe(false);
    expect(needsPseudonym('ada@example.test')).toBe(true);
  });
});
