import { describe, expect, it } from 'vitest';
import { CatalogIndex } from '../../src/cdc/catalog-index.js';
import type { DecodedChange, DecodedTransaction } from '../../src/cdc/decoded-transaction.js';
import { eventIdOf, subjectIdOf } from '../../src/cdc/erasure-manifest.js';
import { ErasureNotReadableError, foldTransaction } from '../../src/cdc/manifest-builder.js';
import { testCatalog } from '../support/test-catalog.js';

const catalog = testCatalog(`
subjects:
  user:
    table: public.users
    key: id
    erasedWhen:
      - delete
      - update: { column: erased_at, becomes: not_null }
    related:
      - { table: public.orders, subjectColumn: user_id }
      - { table: public.messages, subjectColumn: sender_id }
  account:
    table: '"Billing"."Accounts"'
    key: [tenant_id, '"AccountId"']
    erasedWhen: [{ update: { column: status, becomes: { equals: erased } } }]
    related:
      - { table: '"Billing"."Invoices"', subjectColumn: [tenant_id, account_ref] }
`);
const index = new CatalogIndex(
  catalog,
  new Map([
    ['public.orders', ['id']],
    ['public.messages', ['id']],
    ['"Billing"."Invoices"', ['id']],
  ]),
);

const users = { schema: 'public', name: 'users' };
const orders = { schema: 'public', name: 'orders' };
const messages = { schema: 'public', name: 'messages' };
const accounts = { schema: 'Billing', name: 'Accounts' };
const invoices = { schema: 'Billing', name: 'Invoices' };

function tx(changes: DecodedChange[], extra: Partial<DecodedTransaction> = {}): DecodedTransaction {
  return {
    xid: 901,
    commitLsn: '0/1A2B3C8',
    commitEndLsn: '0/1A2B3F0',
    commitTime: 1_790_000_000_000,
    changes,
    truncatedTables: [],
    messages: [],
    ...extra,
  };
}
const del = (table: typeof users, old: Record<string, string | null>, identityColumns = ['id']): DecodedChange => ({
  kind: 'delete',
  table,
  old,
  new: null,
  identityColumns,
});
const upd = (
  table: typeof users,
  old: Record<string, string | null> | null,
  next: Record<string, string | null>,
): DecodedChange => ({ kind: 'update', table, old, new: next, identityColumns: ['id'] });

function captured(fold: () => unknown): ErasureNotReadableError {
  try {
    fold();
  } catch (error) {
    if (error instanceof ErasureNotReadableError) return error;
    throw error;
  }
  throw new Error('expected the fold to fail');
}

describe('foldTransaction', () => {
  it('folds a user delete and its cascaded orders into one DELETE manifest', () => {
    const result = foldTransaction(
      tx([
        del(orders, { id: '11', user_id: '42', total: '9.99' }),
        del(orders, { id: '12', user_id: '42', total: '1.00' }),
        del(users, { id: '42', email: 'ada@example.test', erased_at: null }),
      ]),
      index,
    );
    expect(result.warnings).toEqual([]);
    expect(result.manifests).toHaveLength(1);
    const [m] = result.manifests;
    expect(m).toMatchObject({
      subjectType: 'user',
      subjectId: '42',
      subjectKey: [{ column: 'id', value: '42' }],
      operation: 'DELETE',
      sourceTable: 'public.users',
      commitLsn: '0/1A2B3C8',
      xid: 901,
      requestId: null,
    });
    expect(m!.related).toEqual([
      { table: 'public.orders', key: [{ column: 'id', value: '11' }], operation: 'DELETE' },
      { table: 'public.orders', key: [{ column: 'id', value: '12' }], operation: 'DELETE' },
    ]);
    expect(m!.eventId).toBe(eventIdOf('0/1A2B3C8', 'user', '42'));
    // No personal data in the manifest: only keys.
    expect(JSON.stringify(m)).not.toContain('ada@example.test');
    expect(JSON.stringify(m)).not.toContain('9.99');
  });

  it('gives each of several subjects in one transaction its own manifest and rows', () => {
    const result = foldTransaction(
      tx([
        del(users, { id: '1' }),
        del(users, { id: '2' }),
        del(messages, { id: '100', sender_id: '2', body: 'hello' }),
        del(messages, { id: '101', sender_id: '1', body: 'hi' }),
      ]),
      index,
    );
    const byId = Object.fromEntries(result.manifests.map((m) => [m.subjectId, m]));
    expect(Object.keys(byId).sort()).toEqual(['1', '2']);
    expect(byId['1']!.related.map((r) => r.key[0]!.value)).toEqual(['101']);
    expect(byId['2']!.related.map((r) => r.key[0]!.value)).toEqual(['100']);
    expect(byId['1']!.eventId).not.toBe(byId['2']!.eventId);
  });

  it('anonymizes when the marker column becomes not null, not when it already was', () => {
    const first = foldTransaction(tx([upd(users, { id: '7', erased_at: null }, { id: '7', erased_at: '2026-11-22 10:00:00+00' })]), index);
    expect(first.manifests.map((m) => [m.subjectId, m.operation])).toEqual([['7', 'ANONYMIZE']]);

    const again = foldTransaction(
      tx([upd(users, { id: '7', erased_at: '2026-11-22 10:00:00+00' }, { id: '7', erased_at: '2026-11-23 10:00:00+00' })]),
      index,
    );
    expect(again.manifests).toEqual([]);

    const unrelated = foldTransaction(tx([upd(users, null, { id: '7', erased_at: null })]), index);
    expect(unrelated.manifests).toEqual([]);
  });

  it('lets a delete win over an anonymize of the same subject in one transaction', () => {
    const result = foldTransaction(
      tx([upd(users, null, { id: '5', erased_at: 'now' }), del(users, { id: '5' })]),
      index,
    );
    expect(result.manifests.map((m) => m.operation)).toEqual(['DELETE']);
  });

  it('handles composite, quoted, text and uuid keys', () => {
    const uuid = '6f1c2e1a-4b7e-4c2a-9a55-0e4f0b0c1d2e';
    const result = foldTransaction(
      tx([
        upd(accounts, null, { tenant_id: 'acme/eu', AccountId: uuid, status: 'erased' }),
        del(invoices, { id: 'inv-1', tenant_id: 'acme/eu', account_ref: uuid }, ['id']),
      ]),
      index,
    );
    const [m] = result.manifests;
    expect(m).toMatchObject({
      subjectType: 'account',
      operation: 'ANONYMIZE',
      sourceTable: '"Billing"."Accounts"',
      subjectKey: [
        { column: 'tenant_id', value: 'acme/eu' },
        { column: 'AccountId', value: uuid },
      ],
    });
    // The '/' inside a key value cannot be confused with the separator.
    expect(m!.subjectId).toBe(`acme%2Feu/${uuid}`);
    expect(m!.subjectId).toBe(subjectIdOf(['acme/eu', uuid]));
    expect(m!.related).toEqual([{ table: '"Billing"."Invoices"', key: [{ column: 'id', value: 'inv-1' }], operation: 'DELETE' }]);
  });

  it('does not publish a child row deleted alone, and counts it', () => {
    const result = foldTransaction(tx([del(messages, { id: '100', sender_id: '2', body: 'x' })]), index);
    expect(result.manifests).toEqual([]);
    expect(result.unattachedRelatedRows).toBe(1);
  });

  it('ignores tables outside the catalog and inserts', () => {
    const result = foldTransaction(
      tx([
        del({ schema: 'public', name: 'audit' }, { id: '1' }),
        { kind: 'insert', table: users, old: null, new: { id: '9' }, identityColumns: ['id'] },
      ]),
      index,
    );
    expect(result).toEqual({ manifests: [], unattachedRelatedRows: 0, warnings: [] });
  });

  it('attributes the transaction to the request named by a lethe logical message', () => {
    const result = foldTransaction(
      tx([del(users, { id: '3' })], { messages: [{ prefix: 'lethe', content: '{"requestId":"req-77"}' }] }),
      index,
    );
    expect(result.manifests[0]!.requestId).toBe('req-77');
    const bad = foldTransaction(tx([del(users, { id: '3' })], { messages: [{ prefix: 'lethe', content: 'nope' }] }), index);
    expect(bad.manifests[0]!.requestId).toBeNull();
    expect(bad.warnings.map((w) => w.code)).toEqual(['BAD_REQUEST_MESSAGE']);
  });

  it('fails, naming table, transaction and commit, when a root delete does not carry the subject key', () => {
    // A key-only old row of an identity index without the key: id is absent, not NULL.
    const fold = () => foldTransaction(tx([del(users, { email: 'x@seeded.example' }, ['email'])]), index);
    expect(fold).toThrow(ErasureNotReadableError);
    const error = captured(fold);
    expect(error).toMatchObject({ code: 'ERASURE_NOT_READABLE', retriable: true, table: 'public.users', subjectType: 'user', columns: ['id'], xid: 901, commitLsn: '0/1A2B3C8', commitEndLsn: '0/1A2B3F0' });
    expect(error.message).not.toContain('seeded.example');
  });

  it('fails when a related delete does not carry the subject column, instead of dropping the row', () => {
    // The orders delete of a cascade, after REPLICA IDENTITY went back to the primary key.
    const fold = () => foldTransaction(tx([del(users, { id: '42' }), del(orders, { id: '11' })]), index);
    expect(captured(fold)).toMatchObject({ code: 'ERASURE_NOT_READABLE', table: 'public.orders', subjectType: 'user', columns: ['user_id'] });
    const composite = () => foldTransaction(tx([del(invoices, { id: 'inv-1', tenant_id: 'acme' }, ['id', 'tenant_id'])]), index);
    expect(captured(composite)).toMatchObject({ table: '"Billing"."Invoices"', subjectType: 'account', columns: ['account_ref'] });
  });

  it('reads a NULL that was carried as naming no subject, not as a missing column', () => {
    const related = foldTransaction(tx([del(users, { id: '42' }), del(messages, { id: '100', sender_id: null, body: 'x' }, [])]), index);
    expect(related.manifests.map((m) => [m.subjectId, m.related])).toEqual([['42', []]]);
    expect(related.unattachedRelatedRows).toBe(0);
    const root = foldTransaction(tx([del(users, { id: null, email: 'x' }, [])]), index);
    expect(root.manifests).toEqual([]);
    expect(root.warnings.map((w) => [w.code, w.table])).toEqual([['SUBJECT_KEY_NULL', 'public.users']]);
  });

  it('warns on a TRUNCATE of a catalogued table', () => {
    const result = foldTransaction(tx([], { truncatedTables: [orders, { schema: 'public', name: 'audit' }] }), index);
    expect(result.manifests).toEqual([]);
    expect(result.warnings.map((w) => [w.code, w.table])).toEqual([['TRUNCATE', 'public.orders']]);
  });

  it('identifies a related row by its primary key only, never by an identity index that may hold an email', () => {
    // REPLICA IDENTITY USING INDEX on (email): the old row carries the email, not the primary key.
    const result = foldTransaction(tx([del(users, { id: '4' }), del(messages, { email: 'ada@example.com', sender_id: '4' }, ['email'])]), index);
    expect(result.manifests[0]!.related).toEqual([{ table: 'public.messages', key: [], operation: 'DELETE' }]);
    expect(JSON.stringify(result.manifests)).not.toContain('ada@example.com');
  });

  it('never copies a FULL-identity row into a related key when the primary key is unknown', () => {
    const noKeys = new CatalogIndex(catalog);
    const result = foldTransaction(
      tx([del(users, { id: '4' }), del(messages, { id: '5', sender_id: '4', body: 'secret' }, [])]),
      noKeys,
    );
    expect(result.manifests[0]!.related).toEqual([{ table: 'public.messages', key: [], operation: 'DELETE' }]);
  });

  describe('subjects named by a request\'s logical message', () => {
    const message = (body: unknown) => ({ messages: [{ prefix: 'lethe', content: JSON.stringify(body) }] });

    it('erases a named subject whose root row did not change, with the related rows deleted in the transaction', () => {
      const result = foldTransaction(
        tx(
          [del(orders, { id: '11', user_id: '42', total: '9.99' }), del(orders, { id: '12', user_id: '4', total: '1.00' })],
          message({ requestId: 'req_A', subjects: [{ type: 'user', key: { id: '42' }, operation: 'ANONYMIZE' }] }),
        ),
        index,
      );
      expect(result.warnings).toEqual([]);
      expect(result.manifests).toHaveLength(1);
      expect(result.manifests[0]).toMatchObject({
        eventId: eventIdOf('0/1A2B3C8', 'user', '42'),
        subjectType: 'user',
        subjectId: '42',
        subjectKey: [{ column: 'id', value: '42' }],
        operation: 'ANONYMIZE',
        sourceTable: 'public.users',
        requestId: 'req_A',
        related: [{ table: 'public.orders', key: [{ column: 'id', value: '11' }], operation: 'DELETE' }],
      });
      // The neighbour's order (user 4) is an ordinary delete, not part of the request.
      expect(result.unattachedRelatedRows).toBe(1);
    });

    it('merges a named subject with its root change once; a DELETE wins from either side', () => {
      const anonymizedRoot = upd(users, { id: '42', erased_at: null }, { id: '42', erased_at: '2026-11-22 10:00:00+00' });
      const same = foldTransaction(tx([anonymizedRoot], message({ requestId: 'req_B', subjects: [{ type: 'user', key: { id: '42' }, operation: 'ANONYMIZE' }] })), index);
      expect(same.manifests.map((m) => [m.subjectId, m.operation, m.requestId])).toEqual([['42', 'ANONYMIZE', 'req_B']]);

      const messageDeletes = foldTransaction(tx([anonymizedRoot], message({ requestId: 'req_C', subjects: [{ type: 'user', key: { id: '42' }, operation: 'DELETE' }] })), index);
      expect(messageDeletes.manifests.map((m) => [m.subjectId, m.operation])).toEqual([['42', 'DELETE']]);

      const rootDeletes = foldTransaction(tx([del(users, { id: '42' })], message({ requestId: 'req_D', subjects: [{ type: 'user', key: { id: '42' }, operation: 'ANONYMIZE' }] })), index);
      expect(rootDeletes.manifests.map((m) => [m.subjectId, m.operation])).toEqual([['42', 'DELETE']]);
    });

    it('names a composite, quoted key by the catalog\'s key order, whatever the message\'s order', () => {
      const uuid = '6f1c2e1a-4b7e-4c2a-9a55-0e4f0b0c1d2e';
      const result = foldTransaction(
        tx([], message({ requestId: 'req_E', subjects: [{ type: 'account', key: { AccountId: uuid, tenant_id: 'acme/eu' }, operation: 'DELETE' }] })),
        index,
      );
      expect(result.manifests.map((m) => [m.subjectType, m.subjectId, m.sourceTable])).toEqual([['account', subjectIdOf(['acme/eu', uuid]), '"Billing"."Accounts"']]);
    });

    it('still reads a message that names only the request', () => {
      const result = foldTransaction(tx([del(users, { id: '3' })], message({ requestId: 'req_F' })), index);
      expect(result.manifests.map((m) => [m.subjectId, m.requestId])).toEqual([['3', 'req_F']]);
      expect(result.warnings).toEqual([]);
    });

    it('ignores, with a warning that quotes no value, a subject of an unknown type, a key not the catalog\'s, or a malformed entry', () => {
      const result = foldTransaction(
        tx(
          [],
          message({
            requestId: 'req_G',
            subjects: [
              { type: 'robot', key: { id: '1' }, operation: 'DELETE' },
              { type: 'user', key: { email: 'ada@example.test' }, operation: 'DELETE' },
              { type: 'user', key: { id: 42 }, operation: 'DELETE' },
              { type: 'user', key: { id: '9' }, operation: 'ERASE' },
              { type: 'user', key: { id: '8' }, operation: 'DELETE' },
            ],
          }),
        ),
        index,
      );
      expect(result.manifests.map((m) => [m.subjectId, m.requestId])).toEqual([['8', 'req_G']]);
      expect(result.warnings.map((w) => w.code)).toEqual(['BAD_REQUEST_MESSAGE', 'BAD_REQUEST_MESSAGE', 'BAD_REQUEST_MESSAGE', 'BAD_REQUEST_MESSAGE']);
      expect(JSON.stringify(result.warnings)).not.toContain('ada@example.test');
    });
  });
});
