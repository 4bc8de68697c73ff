import { PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';

/**
 * pgoutput as pg-logical-replication decodes it, but with every column value left in PostgreSQL's
 * text representation. The library converts values with `pg`'s global type parsers (int4 to
 * number, timestamptz to a Date that drops microseconds, json to an object), which would make a
 * subject key differ from what the database prints. The parser caches each relation message by
 * reference and decodes every message synchronously on arrival, so replacing the column parsers
 * when the relation message is decoded applies to every change that follows it.
 */
export class TextPgoutputPlugin extends PgoutputPlugin {
  override parse(buffer: Buffer): Pgoutput.Message {
    const message = super.parse(buffer) as Pgoutput.Message;
    if (message.tag === 'relation') {
      for (const column of message.columns) column.parser = keepText;
    }
    return message;
  }
}

function keepText(raw: string): string {
  return raw;
}
