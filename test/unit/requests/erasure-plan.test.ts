import { describe, expect, it } from 'vitest';
import type { RequestHandler } from '../../../src/catalog/catalog.js';
import { formatQualifiedName, tableKey, type TableRef } from '../../../src/catalog/identifiers.js';
import { deleteOrder, planErasure, type ForeignKey, type OnDelete } from '../../../src/requests/erasure-plan.js';
import { permutations } from '../../support/permutations.js';

const t = (name: string, schema = 'shop'): TableRef => ({ schema, name });
const users = t('users');
const orders = t('orders');
const items = t('order_items');
const invoices = t('invoices');
const messages = t('messages');

let n = 0;
function handler(table: TableRef, action: RequestHandler['action'], subjectColumns = ['user_id']): RequestHandler {
  n += 1;
  return { table, subjectColumns, path: `subjects.user.onRequest[${n}]`, action };
}
const del = (table: TableRef) => handler(table, { kind: 'delete' });
const anon = (table: TableRef, columns: string[] = ['note']) => handler(table, { kind: 'anonymize', columns: Object.fromEntries(columns.map((c) => [c, { kind: 'null' as const }])) });
const keep = (table: TableRef) => handler(table, { kind: 'keep', reason: 'tax law' });
function fk(from: TableRef, to: TableRef, onDelete: OnDelete = 'a', columns = ['user_id'], deferrable = false): ForeignKey {
  return { constraint: `${from.name}_${to.name}_fkey`, from, columns, to, onDelete, deferrable };
}
const names = (hs: readonly RequestHandler[]) => hs.map((h) => formatQualifiedName(h.table));
const none = new Map<string, string | undefined>();

describe('deleteOrder', () => {
  it('puts referencing tables before the tables they reference, whatever the catalog order', () => {
    const edges = [fk(orders, users), fk(items, orders, 'r', ['order_id'])];
    for (const order of permutations([del(users), del(orders), del(items)])) {
      const result = deleteOrder(order, edges);
      expect('order' in result && names(result.order)).toEqual(['shop.order_items', 'shop.orders', 'shop.users']);
    }
  });

  it('keeps the catalog order where no foreign key decides', () => {
    const result = deleteOrder([del(messages), del(users), del(invoices)], [fk(messages, users, 'c')]);
    expect('order' in result && names(result.order)).toEqual(['shop.messages', 'shop.users', 'shop.invoices']);
  });

  it('ignores self references and deferrable constraints', () => {
    const result = deleteOrder([del(users), del(orders)], [fk(users, users, 'a', ['referrer_id']), fk(orders, users, 'a', ['user_id'], true)]);
    expect('order' in result && names(result.order)).toEqual(['shop.users', 'shop.orders']);
  });

  it('drops cascade edges that close a cycle, and reports a cycle of refusing constraints', () => {
    const soft = deleteOrder([del(users), del(orders)], [fk(orders, users, 'a'), fk(users, orders, 'c', ['last_order_id'])]);
    expect('order' in soft && names(soft.order)).toEqual(['shop.orders', 'shop.users']);
    const hard = deleteOrder([del(users), del(orders)], [fk(orders, users, 'a'), fk(users, orders, 'r', ['last_order_id'])]);
    expect(hard).toMatchObject({ constraints: ['orders_users_fkey', 'users_orders_fkey'] });
    expect('cycle' in hard && names(hard.cycle)).toEqual(['shop.users', 'shop.orders']);
  });
});

describe('planErasure', () => {
  it('runs anonymize updates first, then the deletes in foreign-key order, and keeps what is kept or held', () => {
    const handlers = [del(users), anon(orders), del(items), keep(invoices), del(messages)];
    const plan = planErasure(handlers, [fk(items, users), fk(orders, users, 'c')], new Map([[tableKey(messages), 'hold_1']]));
    expect(plan.conflicts).toEqual([]);
    expect(names(plan.writes)).toEqual(['shop.orders', 'shop.order_items', 'shop.users']);
    expect(plan.kept.map((k) => [formatQualifiedName(k.handler.table), k.holdId])).toEqual([['shop.invoices', undefined], ['shop.messages', 'hold_1']]);
  });

  it.each([
    ['c', 'the delete would take the kept rows with it'],
    ['a', 'the database would refuse the delete while the kept rows reference it'],
    ['r', 'the database would refuse the delete while the kept rows reference it'],
    ['n', 'the delete would change the kept rows'],
    ['d', 'the delete would change the kept rows'],
  ] as const)('refuses a kept table whose foreign key to a deleted table is ON DELETE %s', (onDelete, effect) => {
    const kept = keep(invoices);
    const plan = planErasure([del(users), kept], [fk(invoices, users, onDelete)], none);
    expect(plan.conflicts).toHaveLength(1);
    expect(plan.conflicts[0]).toMatchObject({ path: kept.path, constraint: 'invoices_users_fkey', from: invoices, to: users });
    expect(plan.conflicts[0]!.message).toContain('shop.invoices is kept');
    expect(plan.conflicts[0]!.message).toContain('invoices_users_fkey to shop.users');
    expect(plan.conflicts[0]!.message).toContain(effect);
  });

  it('refuses a held table the same way, naming the hold, whatever its own handler says', () => {
    const plan = planErasure([del(users), del(orders)], [fk(orders, users, 'c')], new Map([[tableKey(orders), 'hold_9']]));
    expect(plan.conflicts.map((c) => c.message)).toEqual([expect.stringContaining('shop.orders is under hold hold_9')]);
  });

  it('accepts a kept table that references a table the request only anonymizes', () => {
    const plan = planErasure([anon(users, ['email']), keep(invoices)], [fk(invoices, users, 'r')], none);
    expect(plan.conflicts).toEqual([]);
  });

  it('refuses an anonymized table whose NO ACTION reference to a deleted table it leaves in place, unless it nulls it', () => {
    const refused = planErasure([del(users), anon(orders, ['address'])], [fk(orders, users, 'a')], none);
    expect(refused.conflicts.map((c) => c.message)).toEqual([expect.stringContaining('anonymize user_id to null to detach them')]);
    const detached = planErasure([del(users), anon(orders, ['address', 'user_id'])], [fk(orders, users, 'a')], none);
    expect(detached.conflicts).toEqual([]);
    const cascaded = planErasure([del(users), anon(orders, ['address'])], [fk(orders, users, 'c')], none);
    expect(cascaded.conflicts).toEqual([]);
  });

  it('reports a cycle of refusing constraints among deleted tables as a conflict', () => {
    const plan = planErasure([del(users), del(orders)], [fk(orders, users, 'a'), fk(users, orders, 'a', ['last_order_id'])], none);
    expect(plan.conflicts).toHaveLength(1);
    expect(plan.conflicts[0]!.message).toMatch(/reference each other through orders_users_fkey, users_orders_fkey/);
  });
});
