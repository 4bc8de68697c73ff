import { describe, expect, it } from 'vitest';
import { asSlotActiveError, SlotActiveError } from '../../src/cdc/source-database.js';

describe('asSlotActiveError', () => {
  it('reads START_REPLICATION refused for a slot in use (SQLSTATE 55006), with the PID that holds it', () => {
    const refused = Object.assign(new Error('replication slot "lethe" is active for PID 4242'), { code: '55006' });
    const error = asSlotActiveError(refused, 'lethe');
    expect(error).toBeInstanceOf(SlotActiveError);
    expect(error).toMatchObject({ code: 'SLOT_ACTIVE', slot: 'lethe', activePid: 4242, retriable: true, cause: refused });
  });

  it('leaves every other error alone', () => {
    expect(asSlotActiveError(Object.assign(new Error('replication slot "lethe" does not exist'), { code: '42704' }), 'lethe')).toBeUndefined();
    expect(asSlotActiveError(new Error('Connection terminated unexpectedly'), 'lethe')).toBeUndefined();
    expect(asSlotActiveError(undefined, 'lethe')).toBeUndefined();
  });
});
