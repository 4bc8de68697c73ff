import type { Catalog, RelatedTable, SubjectType } from '../catalog/catalog.js';
import { tableKey, type TableRef } from '../catalog/identifiers.js';

/** What the catalog says about one table, looked up once per decoded change. */
export interface TableRoles {
  roots: SubjectType[];
  related: Array<{ subject: SubjectType; related: RelatedTable }>;
  /** Columns that identify one row in a manifest (its primary key), when known. */
  rowKey: readonly string[] | undefined;
}

/**
 * The catalog indexed by table, so a change to a table outside the catalog costs one map miss.
 * `rowKeys` maps a table key to its primary key columns (read from the database at start-up);
 * without one, a manifest identifies a related row by its replica identity columns.
 */
export class CatalogIndex {
  private readonly byTable = new Map<string, TableRoles>();
  private readonly byType = new Map<string, SubjectType>();

  constructor(catalog: Pick<Catalog, 'subjects'>, rowKeys: ReadonlyMap<string, readonly string[]> = new Map()) {
    const roles = (table: TableRef): TableRoles => {
      const key = tableKey(table);
      let entry = this.byTable.get(key);
      if (!entry) {
        entry = { roots: [], related: [], rowKey: rowKeys.get(key) };
        this.byTable.set(key, entry);
      }
      return entry;
    };
    for (const subject of catalog.subjects) {
      this.byType.set(subject.type, subject);
      roles(subject.table).roots.push(subject);
      for (const related of subject.related) roles(related.table).related.push({ subject, related });
    }
  }

  lookup(table: TableRef): TableRoles | undefined {
    return this.byTable.get(tableKey(table));
  }

  /** A subject type by name (a request's logical message names its subjects by type). */
  subject(type: string): SubjectType | undefined {
    return this.byType.get(type);
  }

  has(table: TableRef): boolean {
    return this.byTable.has(tableKey(table));
  }
}
