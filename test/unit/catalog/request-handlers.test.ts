import { describe, expect, it } from 'vitest';
import { parseCatalog } from '../../../src/catalog/catalog.js';
import { catalogProblems } from '../../support/catalog-problems.js';

const head = `
source: { url: postgres://h/db }
kafka: { brokers: k:9092, schemaRegistry: "http://sr:8081" }
`;

function catalogWith(subject: string, extra = ''): string {
  return `${head}subjects:\n  user:\n${subject.replace(/^/gm, '    ')}\n${extra}`;
}

const valid = catalogWith(
  `table: shop.users
key: id
identities:
  email: { column: email, caseInsensitive: true }
  phone: { column: '"PhoneNumber"' }
erasedWhen:
  - delete
  - update: { column: erased_at, becomes: not_null }
onRequest:
  - { table: shop.users, action: { anonymize: { email: null, name: { literal: "Deleted user" } } } }
  - { table: shop.messages, subjectColumn: sender_id, action: delete }
  - { table: '"Shop"."Orders"', subjectColumn: '"UserId"', action: { anonymize: { '"ShippingAddress"': null, phone: hmac, note: hash } } }
  - { table: shop.invoices, subjectColumn: user_id, action: { keep: "tax law: invoices are kept 10 years" } }`,
  'pseudonymization: { hmacKey: k1 }\n',
);

describe('catalog: identities and onRequest', () => {
  it('resolves identities and request handlers, with quoted mixed-case names and the hmac key id', () => {
    const [user] = parseCatalog(valid, {}).subjects;
    expect(user!.identities).toEqual([
      { kind: 'email', column: 'email', caseInsensitive: true, path: 'subjects.user.identities.email' },
      { kind: 'phone', column: 'PhoneNumber', caseInsensitive: false, path: 'subjects.user.identities.phone' },
    ]);
    expect(user!.onRequest).toEqual([
      {
        table: { schema: 'shop', name: 'users' },
        subjectColumns: ['id'],
        path: 'subjects.user.onRequest[0]',
        action: { kind: 'anonymize', columns: { email: { kind: 'null' }, name: { kind: 'literal', value: 'Deleted user' } } },
      },
      { table: { schema: 'shop', name: 'messages' }, subjectColumns: ['sender_id'], path: 'subjects.user.onRequest[1]', action: { kind: 'delete' } },
      {
        table: { schema: 'Shop', name: 'Orders' },
        subjectColumns: ['UserId'],
        path: 'subjects.user.onRequest[2]',
        action: { kind: 'anonymize', columns: { ShippingAddress: { kind: 'null' }, phone: { kind: 'hmac', keyId: 'k1' }, note: { kind: 'hash' } } },
      },
      { table: { schema: 'shop', name: 'invoices' }, subjectColumns: ['user_id'], path: 'subjects.user.onRequest[3]', action: { kind: 'keep', reason: 'tax law: invoices are kept 10 years' } },
    ]);
  });

  it('defaults to no identities and no handlers', () => {
    const [user] = parseCatalog(catalogWith('table: shop.users\nkey: id'), {}).subjects;
    expect(user).toMatchObject({ identities: [], onRequest: [] });
  });

  it('refuses a table listed twice, naming both entries', () => {
    const problems = catalogProblems(
      catalogWith(`table: shop.users
key: id
onRequest:
  - { table: shop.users, action: delete }
  - { table: shop.messages, subjectColumn: sender_id, action: delete }
  - { table: Shop.Messages, subjectColumn: sender_id, action: { keep: audit } }`),
    );
    expect(problems).toEqual([{ path: 'subjects.user.onRequest[2].table', message: 'shop.messages is already listed at subjects.user.onRequest[1]' }]);
  });

  it('refuses a root anonymize without an erasedWhen update rule', () => {
    const problems = catalogProblems(catalogWith('table: shop.users\nkey: id\nonRequest:\n  - { table: shop.users, action: { anonymize: { email: null } } }'));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ path: 'subjects.user.onRequest[0].action' });
    expect(problems[0]!.message).toMatch(/erasedWhen update rule/);
  });

  it('refuses a root anonymize of the key or of the erasedWhen column', () => {
    const problems = catalogProblems(
      catalogWith(`table: shop.users
key: id
erasedWhen: [{ update: { column: erased_at, becomes: not_null } }]
onRequest:
  - { table: shop.users, action: { anonymize: { id: null, erased_at: null, email: null } } }`),
    );
    expect(problems.map((p) => p.path)).toEqual(['subjects.user.onRequest[0].action.anonymize.id', 'subjects.user.onRequest[0].action.anonymize.erased_at']);
  });

  it('needs subjectColumn on every table but the root, of the key\'s arity, and none on the root', () => {
    const problems = catalogProblems(
      catalogWith(`table: shop.accounts
key: [tenant, id]
onRequest:
  - { table: shop.accounts, subjectColumn: [tenant, id], action: delete }
  - { table: shop.messages, action: delete }
  - { table: shop.orders, subjectColumn: account_id, action: delete }`),
    );
    expect(problems.map((p) => p.path)).toEqual([
      'subjects.user.onRequest[0].subjectColumn',
      'subjects.user.onRequest[1].subjectColumn',
      'subjects.user.onRequest[2].subjectColumn',
    ]);
    expect(problems[2]!.message).toBe("names 1 column(s) but the subject's key has 2 (tenant, id)");
  });

  it('needs the root table whenever onRequest lists tables', () => {
    const problems = catalogProblems(catalogWith('table: shop.users\nkey: id\nonRequest:\n  - { table: shop.messages, subjectColumn: sender_id, action: delete }'));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ path: 'subjects.user.onRequest' });
    expect(problems[0]!.message).toMatch(/root table shop\.users/);
  });

  it('refuses hmac without pseudonymization.hmacKey, at the column', () => {
    const problems = catalogProblems(
      catalogWith('table: shop.users\nkey: id\nonRequest:\n  - { table: shop.users, action: delete }\n  - { table: shop.orders, subjectColumn: user_id, action: { anonymize: { phone: hmac } } }'),
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ path: 'subjects.user.onRequest[1].action.anonymize.phone' });
  });

  it('refuses a misspelt strategy, a bare action word, an empty keep reason and two spellings of one column', () => {
    const problems = catalogProblems(
      catalogWith(`table: shop.users
key: id
onRequest:
  - { table: shop.users, action: remove }
  - { table: shop.a, subjectColumn: u, action: { anonymize: { email: "Deleted" } } }
  - { table: shop.b, subjectColumn: u, action: { keep: "" } }
  - { table: shop.c, subjectColumn: u, action: { anonymize: { Email: null, email: null } } }`),
    );
    expect(problems.map((p) => p.path)).toEqual([
      'subjects.user.onRequest[0].action',
      'subjects.user.onRequest[1].action.anonymize.email',
      'subjects.user.onRequest[2].action.keep',
      'subjects.user.onRequest[3].action.anonymize.email',
    ]);
    expect(problems[1]!.message).toMatch(/literal: "Deleted"/);
  });

  it('refuses an identity column named twice (either spelling), and an identity kind that is not lower-case', () => {
    const problems = catalogProblems(
      catalogWith(`table: shop.users
key: id
identities:
  email: { column: email }
  login: { column: Email, caseInsensitive: true }`),
    );
    expect(problems).toEqual([{ path: 'subjects.user.identities.login.column', message: 'column email is already identity email' }]);
    expect(catalogProblems(catalogWith('table: shop.users\nkey: id\nidentities:\n  Phone: { column: phone }')).map((p) => p.path)).toEqual(['subjects.user.identities.Phone']);
  });
});
