import { describe, expect, it } from 'vitest';
import { formatQualifiedName, parseColumnName, parseQualifiedName, quoteIdent } from '../../../src/catalog/identifiers.js';

describe('PostgreSQL identifiers', () => {
  it('folds unquoted names to lower case and defaults the schema to public', () => {
    expect(parseQualifiedName('Public.Users')).toEqual({ schema: 'public', name: 'users' });
    expect(parseQualifiedName('orders')).toEqual({ schema: 'public', name: 'orders' });
    expect(parseColumnName('UserId')).toBe('userid');
  });

  it('keeps quoted case, dots and doubled quotes', () => {
    expect(parseQualifiedName('"Billing"."Customer.Accounts"')).toEqual({ schema: 'Billing', name: 'Customer.Accounts' });
    expect(parseQualifiedName('app."a""b"')).toEqual({ schema: 'app', name: 'a"b' });
    expect(parseColumnName('"AccountId"')).toBe('AccountId');
  });

  it('refuses malformed names', () => {
    for (const bad of ['', 'a.b.c', 'a.', '.a', '"open', 'a"b', '""']) {
      expect(() => parseQualifiedName(bad), bad).toThrow();
    }
    expect(() => parseColumnName('a.b')).toThrow(/single column/);
  });

  it('formats canonically, quoting only where Postgres needs it, and round-trips', () => {
    expect(formatQualifiedName({ schema: 'public', name: 'users' })).toBe('public.users');
    expect(formatQualifiedName({ schema: 'public', name: 'user' })).toBe('public."user"');
    expect(formatQualifiedName({ schema: 'Billing', name: 'Customer.Accounts' })).toBe('"Billing"."Customer.Accounts"');
    for (const ref of [{ schema: 'Billing', name: 'a"b' }, { schema: 'x', name: 'order' }]) {
      expect(parseQualifiedName(formatQualifiedName(ref))).toEqual(ref);
    }
    expect(quoteIdent('a"b')).toBe('"a""b"');
  });
});
