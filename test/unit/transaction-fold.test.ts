import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CatalogIndex } from '../../src/cdc/catalog-index.js';
import type { DecodedChange, DecodedTransaction } from '../../src/cdc/decoded-transaction.js';
import type { ErasureManifest } from '../../src/cdc/erasure-manifest.js';
import { ErasureNotReadableError, foldTransaction } from '../../src/cdc/manifest-builder.js';
import { REQUEST_MESSAGE_PREFIX } from '../../src/cdc/request-message.js';
import { bucketOf, removeStaleSpills, TransactionFold } from '../../src/cdc/transaction-fold.js';
import { testCatalog } from '../support/test-catalog.js';

const catalog = testCatalog(`
subjects:
  user:
    table: public.users
    key: id
    related:
      - { table: public.orders, subjectColumn: user_id }
  account:
    table: '"Billing"."Accounts"'
    key: [tenant_id, '"AccountId"']
`);
const index = new CatalogIndex(catalog, new Map([['public.orders', ['id']]]));
const users = { schema: 'public', name: 'users' };
const orders = { schema: 'public', name: 'orders' };
const accounts = { schema: 'Billing', name: 'Accounts' };

const del = (table: typeof users, old: Record<string, string | null>, identityColumns = ['id']): DecodedChange => ({ kind: 'delete', table, old, new: null, identityColumns });
const tx = (changes: DecodedChange[], extra: Partial<DecodedTransaction> = {}): DecodedTransaction => ({
  xid: 77,
  commitLsn: '0/5000010',
  commitEndLsn: '0/5000040',
  commitTime: 1_790_000_000_000,
  changes,
  truncatedTables: [],
  messages: [],
  ...extra,
});

/** A purge: `n` users deleted, each followed later by its two orders (as a cascade writes them). */
function purge(n: number): DecodedChange[] {
  const roots = Array.from({ length: n }, (_, i) => del(users, { id: String(i + 1) }));
  const related = Array.from({ length: n }, (_, i) => [
    del(orders, { id: `${i + 1}-a`, user_id: String(i + 1) }),
    del(orders, { id: `${i + 1}-b`, user_id: String(i + 1) }),
  ]).flat();
  return [...roots, ...related, del(orders, { id: 'stray', user_id: 'nobody' })];
}

let directory: string;
beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'lethe-fold-test-'));
});
afterEach(() => rmSync(directory, { recursive: true, force: true }));

async function foldAll(changes: DecodedChange[], spillAfter: number, extra: Partial<DecodedTransaction> = {}) {
  const fold = new TransactionFold(index, { spillAfter, directory, owner: 'slot_a', buckets: 16 });
  let spills = 0;
  for (const change of changes) {
    const spilling = fold.add(change);
    if (spilling) {
      spills += 1;
      await spilling;
    }
  }
  const batches: ErasureManifest[][] = [];
  const summary = await fold.finish(tx([], extra), async (manifests) => void batches.push(manifests));
  return { summary, batches, spills };
}

const bySubject = (manifests: ErasureManifest[]) => new Map(manifests.map((m) => [`${m.subjectType}:${m.subjectId}`, m]));

describe('TransactionFold', () => {
  it('folds a small transaction in memory, in one batch, exactly as foldTransaction does', async () => {
    const changes = purge(20);
    const { summary, batches, spills } = await foldAll(changes, 1_000);
    expect(spills).toBe(0);
    expect(summary.spilled).toBe(false);
    expect(batches).toHaveLength(1);
    expect(batches[0]).toEqual(foldTransaction(tx(changes), index).manifests);
    expect(summary).toMatchObject({ subjects: 20, unattachedRelatedRows: 1 });
    expect(readdirSync(directory)).toEqual([]);
  });

  it('spills a large transaction to bucket files and gives the same manifests, each subject whole in one batch', async () => {
    const changes = purge(3_000);
    const { summary, batches, spills } = await foldAll(changes, 500);
    expect(spills).toBeGreaterThan(10);
    expect(summary.spilled).toBe(true);
    expect(batches.length).toBeGreaterThan(1);
    const expected = bySubject(foldTransaction(tx(changes), index).manifests);
    const got = batches.flat();
    expect(got).toHaveLength(3_000);
    // No subject is split over two batches, and each has its rows in transaction order.
    expect(bySubject(got)).toEqual(expected);
    expect(bySubject(got).get('user:1234')!.related.map((r) => r.key[0]!.value)).toEqual(['1234-a', '1234-b']);
    expect(summary).toMatchObject({ subjects: 3_000, unattachedRelatedRows: 1 });
    // The spill files are gone once the commit is folded.
    expect(readdirSync(directory)).toEqual([]);
  });

  it("merges a request's subjects into their buckets: a requested subject whose root was deleted is one DELETE, one with a kept root gets its own", async () => {
    const changes = purge(1_000);
    const message = { prefix: REQUEST_MESSAGE_PREFIX, content: JSON.stringify({ requestId: 'r-9', subjects: [{ type: 'user', key: { id: '7' }, operation: 'ANONYMIZE' }, { type: 'account', key: { tenant_id: 't1', AccountId: 'A/1' }, operation: 'DELETE' }] }) };
    const { batches } = await foldAll(changes, 100, { messages: [message] });
    const expected = foldTransaction(tx(changes, { messages: [message] }), index);
    expect(expected.warnings).toEqual([]);
    const got = bySubject(batches.flat());
    expect(got).toEqual(bySubject(expected.manifests));
    expect(got.get('user:7')).toMatchObject({ operation: 'DELETE', requestId: 'r-9' });
    expect(got.get('account:t1/A%2F1')).toMatchObject({ operation: 'DELETE', requestId: 'r-9', sourceTable: '"Billing"."Accounts"' });
    expect([...got.values()].every((m) => m.requestId === 'r-9')).toBe(true);
  });

  it('reports a NULL key once with its count, however many rows had one', async () => {
    const nulls = Array.from({ length: 300 }, () => del(accounts, { tenant_id: 't1', AccountId: null }, ['tenant_id', 'AccountId']));
    const { summary } = await foldAll(nulls, 50);
    expect(summary.warnings).toEqual([expect.objectContaining({ code: 'SUBJECT_KEY_NULL', subjectType: 'account', count: 300 })]);
    expect(summary.subjects).toBe(0);
  });

  it('a change that does not carry its subject columns fails the commit before anything is published, and leaves no file', async () => {
    const changes = [...purge(400), del(orders, { id: '9' }, ['id'])];
    const fold = new TransactionFold(index, { spillAfter: 100, directory, owner: 'slot_a', buckets: 8 });
    for (const change of changes) await fold.add(change);
    const published: ErasureManifest[] = [];
    const error = await fold.finish(tx([]), async (m) => void published.push(...m)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ErasureNotReadableError);
    expect((error as ErasureNotReadableError).table).toBe('public.orders');
    expect(published).toEqual([]);
    expect(readdirSync(directory)).toEqual([]);
  });

  it('spreads subjects over the buckets by a stable hash', () => {
    expect(bucketOf('user', '42', 256)).toBe(bucketOf('user', '42', 256));
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 16_000; i += 1) counts[bucketOf('user', String(i), 16)]! += 1;
    expect(Math.min(...counts)).toBeGreaterThan(700);
    expect(Math.max(...counts)).toBeLessThan(1_300);
  });
});

describe('removeStaleSpills', () => {
  it("removes the spill directories of processes that are gone, never a live one's", async () => {
    // 2^22 + 1 is above Linux's pid_max by default: no such process.
    mkdirSync(join(directory, `lethe-fold-${2 ** 22 + 1}-slot_a-abc`));
    mkdirSync(join(directory, `lethe-fold-${2 ** 22 + 1}-slot_b-abc`)); // another slot's: its reader cleans
    mkdirSync(join(directory, `lethe-fold-${process.pid}-slot_a-def`));
    mkdirSync(join(directory, `lethe-fold-1-slot_a-ghi`)); // init: alive
    mkdirSync(join(directory, 'other-dir'));
    expect(await removeStaleSpills(directory, 'slot_a')).toBe(1);
    expect(readdirSync(directory).sort()).toEqual([`lethe-fold-${2 ** 22 + 1}-slot_b-abc`, 'lethe-fold-1-slot_a-ghi', `lethe-fold-${process.pid}-slot_a-def`, 'other-dir'].sort());
  });
});

describe('a spill file lost before the commit is folded', () => {
  it('fails the commit, publishing nothing of the lost bucket, instead of reading it as empty', async () => {
    const fold = new TransactionFold(index, { spillAfter: 100, directory, owner: 'slot_a', buckets: 4 });
    for (const change of purge(1_000)) await fold.add(change);
    // A cleaner of the temporary directory takes one bucket file.
    const [spill] = readdirSync(directory);
    rmSync(join(directory, spill!, 'bucket-2.ndjson'));
    const published: ErasureManifest[] = [];
    const error = await fold.finish(tx([]), async (m) => void published.push(...m)).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'SPILL_LOST', retriable: true });
    expect(String((error as Error).message)).toContain('bucket-2.ndjson');
    expect(published.some((m) => bucketOf(m.subjectType, m.subjectId, 4) === 2)).toBe(false);
    expect(readdirSync(directory)).toEqual([]);
  });
});
