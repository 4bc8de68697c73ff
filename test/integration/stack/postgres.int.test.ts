import pg from 'pg';
import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import { describe, expect, it } from 'vitest';
import { endpoints } from '../../support/endpoints.js';
import { pgContext } from '../../support/pg-context.js';
import { waitFor } from '../../support/wait-for.js';

// Proves the stack's PostgreSQL decodes logical replication through pgoutput the way the CDC
// reader will consume it: a delete on a REPLICA IDENTITY FULL table carries its whole old row,
// and the slot's confirmed_flush_lsn moves only when we acknowledge.

function lsnToBigInt(lsn: string): bigint {
  const [hi, lo] = lsn.split('/');
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
}

describe('PostgreSQL logical replication (pgoutput)', () => {
  it('streams a delete with its old row and advances the slot only on acknowledgement', async () => {
    await using db = await pgContext();
    const { client: admin } = db;
    const table = db.name('table', 'people');
    const publication = db.name('publication', 'pub');
    const slot = db.name('slot');

    const t = pg.escapeIdentifier(table);
    await admin.query(`CREATE TABLE ${t} (id bigint PRIMARY KEY, email text NOT NULL)`);
    await admin.query(`ALTER TABLE ${t} REPLICA IDENTITY FULL`);
    await admin.query(`INSERT INTO ${t} VALUES (1, 'ada@example.test'), (2, 'bob@example.test')`);
    await admin.query(`CREATE PUBLICATION ${pg.escapeIdentifier(publication)} FOR TABLE ${t}`);
    await admin.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);

    const confirmedFlush = async (): Promise<string | null> => {
      const { rows } = await admin.query<{ lsn: string | null }>(
        'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1',
        [slot],
      );
      return rows[0]?.lsn ?? null;
    };
    const before = await confirmedFlush();
    expect(before).not.toBeNull();

    // The library's defaults acknowledge on receipt and on a timer; the reader must own acks.
    const service = new LogicalReplicationService(
      { connectionString: endpoints().databaseUrl },
      { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: true } },
    );
    await using _stream = { [Symbol.asyncDispose]: async () => void (await service.stop()) };
    const received: Array<{ lsn: string; message: Pgoutput.Message }> = [];
    service.on('data', (lsn: string, message: Pgoutput.Message) => {
      received.push({ lsn, message });
    });
    const errors: Error[] = [];
    service.on('error', (error: Error) => errors.push(error));
    void service
      .subscribe(new PgoutputPlugin({ protoVersion: 1, publicationNames: [publication] }), slot)
      .catch((error: Error) => errors.push(error));

    await admin.query(`DELETE FROM ${t} WHERE id = 1`);

    const commit = await waitFor(
      () => received.find((r) => r.message.tag === 'commit'),
      { what: 'the commit of the delete transaction' },
    );
    const del = received.find((r) => r.message.tag === 'delete');
    expect(del, 'a delete message').toBeDefined();
    const deleteMessage = del!.message as Pgoutput.MessageDelete;
    expect(deleteMessage.relation.name).toBe(table);
    expect(deleteMessage.old).toEqual({ id: '1', email: 'ada@example.test' });

    // Nothing acknowledged yet: the slot has not moved past what it had.
    expect(await confirmedFlush()).toBe(before);

    await service.acknowledge(commit.lsn);
    const after = await waitFor(
      async () => {
        const lsn = await confirmedFlush();
        return lsn !== null && lsnToBigInt(lsn) >= lsnToBigInt(commit.lsn) ? lsn : undefined;
      },
      { what: 'confirmed_flush_lsn to reach the acknowledged commit' },
    );
    expect(lsnToBigInt(after)).toBeGreaterThan(lsnToBigInt(before!));
    expect(errors).toEqual([]);
  });
});
