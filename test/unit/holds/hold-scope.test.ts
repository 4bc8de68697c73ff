import { describe, expect, it } from 'vitest';
import { parseCatalog } from '../../../src/catalog/catalog.js';
import { subjectIdOf } from '../../../src/cdc/erasure-manifest.js';
import { holdsSink, parseHoldScope, parseReviewDate, parseSubjectRef, primaryHolds, scopeOf, scopeText } from '../../../src/holds/hold-scope.js';
import { newHoldId } from '../../../src/holds/hold-store.js';

const catalog = parseCatalog(
  `
source: { url: "postgres://x" }
kafka: { brokers: "b:1", schemaRegistry: "http://r" }
subjects:
  user:
    table: shop.users
    key: id
    related:
      - { table: shop.invoices, subjectColumn: user_id, key: id }
      - { table: '"Billing"."Credit Notes"', subjectColumn: user_id, key: id }
  account:
    table: crm."Accounts"
    key: [tenant, '"AccountId"']
sinks:
  redis: { url: "redis://x", user: { keys: ["user:{subject}"] } }
  bigquery: { projectId: p, user: [{ table: analytics.events, match: user_id, action: delete }] }
`,
  {},
);
const user = catalog.subjects.find((s) => s.type === 'user')!;
const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 1, 15, 0, 0);

describe('parseSubjectRef', () => {
  it('forms the subject id the CDC reader forms, composite keys included', () => {
    expect(parseSubjectRef(catalog, 'user:42')).toEqual({ subjectType: 'user', subjectId: subjectIdOf(['42']), key: { id: '42' } });
    expect(parseSubjectRef(catalog, 'account:acme/7')).toEqual({ subjectType: 'account', subjectId: subjectIdOf(['acme', '7']), key: { tenant: 'acme', AccountId: '7' } });
    // A value with '/' or '%' is given percent-encoded, and comes out encoded as the reader encodes it.
    expect(parseSubjectRef(catalog, 'account:a%2Fb/7').subjectId).toBe(subjectIdOf(['a/b', '7']));
    expect(parseSubjectRef(catalog, 'account:acm%65/7').subjectId).toBe(subjectIdOf(['acme', '7']));
    expect(parseSubjectRef(catalog, 'user:a b').subjectId).toBe('a%20b');
  });

  it('names what is wrong with a subject', () => {
    expect(() => parseSubjectRef(catalog, '42')).toThrow(/give <type>:<key>/);
    expect(() => parseSubjectRef(catalog, 'order:1')).toThrow(/no subject type order in the catalog \(its types: user, account\)/);
    expect(() => parseSubjectRef(catalog, 'account:acme')).toThrow(/key of 2 column\(s\) \(tenant, AccountId\); give their values joined by \//);
    expect(() => parseSubjectRef(catalog, 'user:1/2')).toThrow(/key of 1 column\(s\) \(id\); give its value/);
    expect(() => parseSubjectRef(catalog, 'user:%E0%A4%A')).toThrow(/malformed percent-encoding/);
    expect(() => parseSubjectRef(catalog, 'user:')).toThrow(/empty/);
  });
});

describe('parseHoldScope', () => {
  it('reads all, a configured sink, and a table of the subject type by the catalog identifier rules', () => {
    expect(scopeText(parseHoldScope(catalog, user, 'all'))).toBe('all');
    expect(scopeText(parseHoldScope(catalog, user, 'sink:bigquery'))).toBe('sink:bigquery');
    expect(scopeText(parseHoldScope(catalog, user, 'table:Shop.Invoices'))).toBe('table:shop.invoices');
    expect(scopeText(parseHoldScope(catalog, user, 'table:shop.users'))).toBe('table:shop.users');
    expect(scopeText(parseHoldScope(catalog, user, 'table:"Billing"."Credit Notes"'))).toBe('table:"Billing"."Credit Notes"');
    expect(scopeOf('table:"Billing"."Credit Notes"')).toEqual({ kind: 'table', table: { schema: 'Billing', name: 'Credit Notes' } });
    expect(scopeOf('sink:redis')).toEqual({ kind: 'sink', sink: 'redis' });
  });

  it('refuses a sink not configured, a table not of the subject type, and anything else', () => {
    expect(() => parseHoldScope(catalog, user, 'sink:elasticsearch')).toThrow(/no sink elasticsearch in the catalog \(configured: redis, bigquery\)/);
    expect(() => parseHoldScope(catalog, user, 'table:billing.credit_notes')).toThrow(/billing.credit_notes is not a table of subject type user \(its tables: shop.users, shop.invoices, "Billing"."Credit Notes"\)/);
    expect(() => parseHoldScope(catalog, user, 'table:a.b.c')).toThrow(/3 parts/);
    expect(() => parseHoldScope(catalog, user, 'everything')).toThrow(/give all, table:<schema.table> or sink:<name>/);
  });
});

describe('holdsSink', () => {
  it('holds a sink for all and its own name; the restored primary also for a table', () => {
    expect(holdsSink('all', 'redis')).toBe(true);
    expect(holdsSink('sink:redis', 'redis')).toBe(true);
    expect(holdsSink('sink:bigquery', 'redis')).toBe(false);
    expect(holdsSink('table:shop.invoices', 'redis')).toBe(false);
    expect(holdsSink('table:shop.invoices', 'primary')).toBe(true);
  });
});

describe('parseReviewDate', () => {
  it('takes a real calendar day from today on', () => {
    expect(parseReviewDate('2027-06-30', NOW)).toBe('2027-06-30');
    expect(parseReviewDate('2026-12-01', NOW)).toBe('2026-12-01');
    expect(() => parseReviewDate('2026-11-30', NOW)).toThrow(/in the past \(today is 2026-12-01\)/);
    expect(() => parseReviewDate(new Date(NOW - DAY).toISOString().slice(0, 10), NOW)).toThrow(/in the past/);
    for (const bad of ['2027-02-30', '2027-6-30', '30.06.2027', 'soon']) expect(() => parseReviewDate(bad, NOW)).toThrow(/YYYY-MM-DD/);
  });
});

describe('newHoldId', () => {
  it('is hold_ and 26 base32 characters, different each time', () => {
    const ids = new Set(Array.from({ length: 100 }, newHoldId));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(id).toMatch(/^hold_[a-z2-7]{26}$/);
  });
});

describe('primaryHolds', () => {
  it('names the all hold and each held table once (the oldest hold), and ignores sink holds', () => {
    const h = (id: string, scope: string) => ({ id, scope });
    expect(primaryHolds([h('a', 'sink:redis'), h('b', 'table:shop.invoices'), h('c', 'table:Shop.Invoices'), h('d', 'table:"Billing"."Credit Notes"')])).toEqual({
      tables: [
        { table: { schema: 'shop', name: 'invoices' }, hold: h('b', 'table:shop.invoices') },
        { table: { schema: 'Billing', name: 'Credit Notes' }, hold: h('d', 'table:"Billing"."Credit Notes"') },
      ],
    });
    expect(primaryHolds([h('a', 'sink:redis'), h('b', 'all'), h('c', 'all')]).all).toEqual(h('b', 'all'));
  });
});
