import type { TableRef } from '../catalog/identifiers.js';

/** Column values in PostgreSQL's text representation; null for SQL NULL; absent when not sent. */
export type RowValues = Readonly<Record<string, string | null | undefined>>;

/** One row change of a committed transaction, as decoded from pgoutput. */
export interface DecodedChange {
  kind: 'insert' | 'update' | 'delete';
  table: TableRef;
  /** The old row: every column with REPLICA IDENTITY FULL, the identity columns otherwise, or null. */
  old: RowValues | null;
  new: RowValues | null;
  /**
   * The columns of the relation's identity index (the primary key by default). Empty for
   * REPLICA IDENTITY FULL, where pgoutput flags every column, personal data included.
   */
  identityColumns: readonly string[];
}

/** A committed transaction: only committed transactions ever become events. */
export interface DecodedTransaction {
  xid: number;
  /** LSN of the commit record. */
  commitLsn: string;
  /** End of the commit record: the position the slot may be confirmed to once this is durable. */
  commitEndLsn: string;
  commitTime: number;
  changes: DecodedChange[];
  truncatedTables: TableRef[];
  /** Transactional logical messages (pg_logical_emit_message(true, ...)), in order. */
  messages: Array<{ prefix: string; content: string }>;
}
