import { describe, expect, it } from 'vitest';
import type { ForeignKey } from '../../../src/requests/erasure-plan.js';
import { requestHandlerFindings, type ColumnFacts } from '../../../src/setup/request-handler-checks.js';
import { testCatalog } from '../../support/test-catalog.js';

const { subjects } = testCatalog(`
subjects:
  user:
    table: shop.users
    key: id
    identities:
      email: { column: email, caseInsensitive: true }
      login: { column: login }
      code: { column: code, caseInsensitive: true }
    erasedWhen: [delete, { update: { column: erased_at, becomes: not_null } }]
    onRequest:
      - { table: shop.users, action: delete }
      - { table: shop.orders, subjectColumn: user_id, action: { anonymize: { address: null, phone: hmac, total: hash, missing: null } } }
      - { table: shop.messages, subjectColumn: author_id, action: delete }
      - { table: shop.invoices, subjectColumn: user_id, action: { keep: "tax law" } }
      - { table: shop.gone, subjectColumn: user_id, action: delete }
pseudonymization: { hmacKey: k1 }
`);

const cols = (spec: Record<string, string>) => new Map<string, ColumnFacts>(Object.entries(spec).map(([c, s]) => [c, { notNull: s.includes('!'), category: s.replace('!', '') }]));
const facts = new Map([
  ['shop.users', cols({ id: 'N!', email: 'S!', code: 'N', erased_at: 'D' })],
  ['shop.orders', cols({ id: 'N!', user_id: 'N!', address: 'S!', phone: 'S', total: 'N!' })],
  ['shop.messages', cols({ id: 'N!', sender_id: 'N!' })],
  ['shop.invoices', cols({ id: 'N!', user_id: 'N!' })],
  ['shop.gone', undefined],
]);
const fks: ForeignKey[] = [
  { constraint: 'invoices_user_id_fkey', from: { schema: 'shop', name: 'invoices' }, columns: ['user_id'], to: { schema: 'shop', name: 'users' }, onDelete: 'c', deferrable: false },
  { constraint: 'orders_user_id_fkey', from: { schema: 'shop', name: 'orders' }, columns: ['user_id'], to: { schema: 'shop', name: 'users' }, onDelete: 'n', deferrable: false },
];

describe('doctor: request handlers', () => {
  it('reports missing tables and columns, impossible replacements and foreign key conflicts at their catalog paths', () => {
    const findings = requestHandlerFindings(subjects, facts, fks);
    expect(findings.map((f) => [f.level, f.subject])).toEqual([
      ['problem', 'subjects.user.identities.login.column'],
      ['problem', 'subjects.user.identities.code.caseInsensitive'],
      ['problem', 'subjects.user.onRequest[1].action.anonymize.address'],
      ['problem', 'subjects.user.onRequest[1].action.anonymize.total'],
      ['problem', 'subjects.user.onRequest[1].action.anonymize.missing'],
      ['problem', 'subjects.user.onRequest[2].subjectColumn'],
      ['problem', 'subjects.user.onRequest[4].table'],
      ['problem', 'subjects.user.onRequest[3]'],
    ]);
    expect(findings.at(-1)!.message).toBe('shop.invoices is kept, but its foreign key invoices_user_id_fkey to shop.users, which the request deletes, is ON DELETE CASCADE: the delete would take the kept rows with it');
  });

  it('says what a request runs when all is well', () => {
    const ok = testCatalog(`
subjects:
  user:
    table: shop.users
    key: id
    onRequest:
      - { table: shop.users, action: delete }
      - { table: shop.invoices, subjectColumn: user_id, action: { keep: "tax law" } }
      - { table: shop.orders, subjectColumn: user_id, action: delete }
`).subjects;
    expect(requestHandlerFindings(ok, facts, [{ ...fks[1]!, onDelete: 'a' }])).toEqual([
      { level: 'ok', subject: 'subjects.user.onRequest', message: 'a request runs: delete shop.orders, delete shop.users, keep shop.invoices' },
    ]);
  });
});
