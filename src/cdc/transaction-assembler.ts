import type { Pgoutput } from 'pg-logical-replication';
import type { TableRef } from '../catalog/identifiers.js';
import type { DecodedChange, DecodedTransaction, RowValues } from './decoded-transaction.js';
import { formatLsn, parseLsn } from './lsn.js';

/** What one decoded pgoutput message means for the reader. */
export type StreamStep =
  | { kind: 'begin' }
  | { kind: 'commit'; transaction: DecodedTransaction }
  /** A catalogued row change, handed out as it comes when the assembler does not keep changes. */
  | { kind: 'change'; change: DecodedChange }
  /** A non-transactional message outside any transaction: everything before it was seen. */
  | { kind: 'safe-point'; lsn: string; prefix: string }
  | { kind: 'nothing' };

/**
 * Gathers pgoutput messages into committed transactions. Pure state machine: no I/O. Changes to
 * tables the predicate rejects are dropped as they arrive, and inserts are never kept (an insert
 * erases nothing), so unrelated traffic costs a decode and a map lookup, no copies. With
 * `keepChanges: false` the catalogued changes are not kept either but handed out one by one
 * (`change` steps), so a transaction of a million deletes is never held whole (the reader folds
 * them as they come, transaction-fold.ts); its commit step then has no changes.
 */
export class TransactionAssembler {
  private current: (Omit<DecodedTransaction, 'commitEndLsn' | 'commitLsn' | 'commitTime'> & { beginLsn: string }) | undefined;

  constructor(
    private readonly isCatalogued: (table: TableRef) => boolean,
    private readonly options: { keepChanges: boolean } = { keepChanges: true },
  ) {}

  accept(message: Pgoutput.Message): StreamStep {
    switch (message.tag) {
      case 'begin':
        this.current = {
          xid: message.xid,
          beginLsn: message.commitLsn ?? '0/0',
          changes: [],
          truncatedTables: [],
          messages: [],
        };
        return { kind: 'begin' };
      case 'commit': {
        const tx = this.current;
        this.current = undefined;
        if (!tx) throw new Error(`commit at ${message.commitLsn} without a begin`);
        return {
          kind: 'commit',
          transaction: {
            xid: tx.xid,
            commitLsn: normalizeLsn(message.commitLsn),
            commitEndLsn: normalizeLsn(message.commitEndLsn),
            commitTime: Number(BigInt(message.commitTime as bigint) / 1000n),
            changes: tx.changes,
            truncatedTables: tx.truncatedTables,
            messages: tx.messages,
          },
        };
      }
      case 'update':
      case 'delete': {
        const table = { schema: message.relation.schema, name: message.relation.name };
        if (!this.current || !this.isCatalogued(table)) return { kind: 'nothing' };
        if (!this.options.keepChanges) return { kind: 'change', change: toChange(message, table) };
        this.current.changes.push(toChange(message, table));
        return { kind: 'nothing' };
      }
      case 'truncate':
        if (this.current) {
          for (const relation of message.relations) {
            const table = { schema: relation.schema, name: relation.name };
            if (this.isCatalogued(table)) this.current.truncatedTables.push(table);
          }
        }
        return { kind: 'nothing' };
      case 'message': {
        const content = Buffer.from(message.content).toString('utf8');
        if (message.transactional && this.current) {
          this.current.messages.push({ prefix: message.prefix, content });
          return { kind: 'nothing' };
        }
        if (!message.transactional && !this.current && message.messageLsn) {
          return { kind: 'safe-point', lsn: normalizeLsn(message.messageLsn), prefix: message.prefix };
        }
        return { kind: 'nothing' };
      }
      default:
        // relation, type, origin, insert: nothing to keep
        return { kind: 'nothing' };
    }
  }

  inTransaction(): boolean {
    return this.current !== undefined;
  }
}

function toChange(message: Pgoutput.MessageUpdate | Pgoutput.MessageDelete, table: TableRef): DecodedChange {
  const relation = message.relation;
  return {
    kind: message.tag,
    table,
    old: (message.old ?? message.key) as RowValues | null,
    new: message.tag === 'update' ? (message.new as RowValues) : null,
    identityColumns: relation.replicaIdentity === 'full' ? [] : relation.keyColumns,
  };
}

function normalizeLsn(lsn: string | null): string {
  if (!lsn) throw new Error('pgoutput message without an LSN');
  return formatLsn(parseLsn(lsn));
}
