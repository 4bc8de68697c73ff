import type { RequestHandler } from '../catalog/catalog.js';
import { formatQualifiedName, tableKey, type TableRef } from '../catalog/identifiers.js';

/**
 * What a request does to the subject's tables in the primary, and in which order, as a pure
 * function of the catalog's handlers, the foreign keys among their tables (pg_constraint) and the
 * tables under a hold. Anonymize updates run first (they delete nothing a foreign key could
 * miss), then deletes with the rows of a referencing table before the rows they reference, so a
 * NO ACTION or RESTRICT foreign key accepts each statement and a cascade never takes rows a later
 * statement counts. A kept or held table that references a deleted one is a conflict, reported
 * before anything is written: a cascade would delete the kept rows, NO ACTION or RESTRICT would
 * refuse the delete, SET NULL or SET DEFAULT would change the kept rows.
 */

/** pg_constraint.confdeltype: no action, restrict, cascade, set null, set default. */
export type OnDelete = 'a' | 'r' | 'c' | 'n' | 'd';

export interface ForeignKey {
  constraint: string;
  /** The referencing table and its columns. */
  from: TableRef;
  columns: string[];
  /** The referenced table. */
  to: TableRef;
  onDelete: OnDelete;
  /** A deferrable constraint is checked at commit (the executor defers them), so order does not matter to it. */
  deferrable: boolean;
}

export interface ForeignKeyConflict {
  /** The catalog entry at fault: the handler of the referencing table. */
  path: string;
  constraint: string;
  from: TableRef;
  to: TableRef;
  message: string;
}

export interface KeptTable {
  handler: RequestHandler;
  /** Set when a hold keeps it (whatever its handler says). */
  holdId?: string;
}

export interface ErasurePlan {
  /** Anonymize and delete handlers, in the order to run them. */
  writes: RequestHandler[];
  kept: KeptTable[];
  conflicts: ForeignKeyConflict[];
}

const ON_DELETE: Record<OnDelete, string> = { a: 'NO ACTION', r: 'RESTRICT', c: 'CASCADE', n: 'SET NULL', d: 'SET DEFAULT' };

/** `held`: table key (tableKey) -> the hold's id, when known. */
export function planErasure(handlers: readonly RequestHandler[], foreignKeys: readonly ForeignKey[], held: ReadonlyMap<string, string | undefined>): ErasurePlan {
  const kept: KeptTable[] = [];
  const anonymized: RequestHandler[] = [];
  const deleted: RequestHandler[] = [];
  const byTable = new Map<string, { handler: RequestHandler; role: 'kept' | 'held' | 'anonymize' | 'delete'; holdId?: string }>();
  for (const handler of handlers) {
    const key = tableKey(handler.table);
    if (held.has(key)) {
      const holdId = held.get(key);
      kept.push({ handler, ...(holdId !== undefined ? { holdId } : {}) });
      byTable.set(key, { handler, role: 'held', ...(holdId !== undefined ? { holdId } : {}) });
    } else if (handler.action.kind === 'keep') {
      kept.push({ handler });
      byTable.set(key, { handler, role: 'kept' });
    } else {
      (handler.action.kind === 'delete' ? deleted : anonymized).push(handler);
      byTable.set(key, { handler, role: handler.action.kind });
    }
  }

  const conflicts: ForeignKeyConflict[] = [];
  for (const fk of foreignKeys) {
    const from = byTable.get(tableKey(fk.from));
    const to = byTable.get(tableKey(fk.to));
    if (!from || !to || to.role !== 'delete' || from === to) continue;
    const rule = `its foreign key ${fk.constraint} to ${formatQualifiedName(fk.to)}, which the request deletes, is ON DELETE ${ON_DELETE[fk.onDelete]}`;
    const fromName = formatQualifiedName(fk.from);
    const conflict = (message: string) => conflicts.push({ path: from.handler.path, constraint: fk.constraint, from: fk.from, to: fk.to, message });
    if (from.role === 'kept' || from.role === 'held') {
      const why = from.role === 'held' ? `is under hold${from.holdId ? ` ${from.holdId}` : ''}` : 'is kept';
      const effect = fk.onDelete === 'c'
        ? 'the delete would take the kept rows with it'
        : fk.onDelete === 'n' || fk.onDelete === 'd'
          ? 'the delete would change the kept rows'
          : 'the database would refuse the delete while the kept rows reference it';
      conflict(`${fromName} ${why}, but ${rule}: ${effect}`);
    } else if (from.role === 'anonymize' && (fk.onDelete === 'a' || fk.onDelete === 'r')) {
      const columns = from.handler.action.kind === 'anonymize' ? from.handler.action.columns : {};
      if (fk.columns.every((c) => columns[c]?.kind === 'null')) continue;
      conflict(`${fromName} is anonymized, but ${rule}: its rows would still reference the deleted rows and the database would refuse the delete (anonymize ${fk.columns.join(', ')} to null to detach them, or delete them)`);
    }
  }

  const order = deleteOrder(deleted, foreignKeys);
  if ('cycle' in order) {
    const names = order.cycle.map((h) => formatQualifiedName(h.table)).join(', ');
    const first = order.cycle[0]!;
    conflicts.push({ path: first.path, constraint: order.constraints.join(', '), from: first.table, to: first.table, message: `the tables ${names} reference each other through ${order.constraints.join(', ')} (not deferrable, ON DELETE NO ACTION or RESTRICT): no order of deletes is accepted` });
    return { writes: [...anonymized, ...deleted], kept, conflicts };
  }
  return { writes: [...anonymized, ...order.order], kept, conflicts };
}

/**
 * Deletes ordered so that a table comes after every table referencing it. Edges whose rule
 * would refuse a wrong order (NO ACTION, RESTRICT, not deferrable) must hold; the others (a
 * cascade, SET NULL) are only preferred, so the rows counted per table are the catalog's own, and
 * are dropped if they close a cycle. Ties keep the catalog's order.
 */
export function deleteOrder(deleted: readonly RequestHandler[], foreignKeys: readonly ForeignKey[]): { order: RequestHandler[] } | { cycle: RequestHandler[]; constraints: string[] } {
  const keys = new Set(deleted.map((h) => tableKey(h.table)));
  const edges = foreignKeys.filter((fk) => !fk.deferrable && keys.has(tableKey(fk.from)) && keys.has(tableKey(fk.to)) && tableKey(fk.from) !== tableKey(fk.to));
  const hard = edges.filter((fk) => fk.onDelete === 'a' || fk.onDelete === 'r');
  const all = topological(deleted, edges);
  if (all.rest.length === 0) return { order: all.order };
  const strict = topological(deleted, hard);
  if (strict.rest.length === 0) return { order: strict.order };
  const stuck = new Set(strict.rest.map((h) => tableKey(h.table)));
  const constraints = hard.filter((fk) => stuck.has(tableKey(fk.from)) && stuck.has(tableKey(fk.to))).map((fk) => fk.constraint);
  return { cycle: strict.rest, constraints };
}

function topological(nodes: readonly RequestHandler[], edges: readonly ForeignKey[]): { order: RequestHandler[]; rest: RequestHandler[] } {
  // A table is ready once every table referencing it has been placed.
  const referencedBy = new Map<string, Set<string>>();
  for (const fk of edges) {
    const to = tableKey(fk.to);
    referencedBy.set(to, (referencedBy.get(to) ?? new Set()).add(tableKey(fk.from)));
  }
  const placed = new Set<string>();
  const order: RequestHandler[] = [];
  let rest = [...nodes];
  for (;;) {
    const next = rest.find((h) => [...(referencedBy.get(tableKey(h.table)) ?? [])].every((from) => placed.has(from)));
    if (!next) return { order, rest };
    order.push(next);
    placed.add(tableKey(next.table));
    rest = rest.filter((h) => h !== next);
    if (rest.length === 0) return { order, rest };
  }
}
