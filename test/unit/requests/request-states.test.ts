import { describe, expect, it } from 'vitest';
import { CANCELABLE, canMove, FINAL_STATES, REQUEST_STATES } from '../../../src/requests/request-states.js';

describe('request states', () => {
  it('an executed request can no longer be canceled: execution is the point of no return', () => {
    for (const state of ['executing', 'propagating', 'complete', 'complete_with_exceptions', 'failed'] as const) {
      expect(CANCELABLE.has(state)).toBe(false);
      expect(canMove(state, 'canceled')).toBe(false);
    }
    expect(canMove('waiting', 'canceled')).toBe(true);
  });

  it('nothing skips verification or the grace period by a move the table allows', () => {
    expect(canMove('received', 'executing')).toBe(false);
    expect(canMove('identity_unverified', 'waiting')).toBe(false);
    expect(canMove('identity_unverified', 'executing')).toBe(false);
  });

  it('final states stay final, except an exception a released hold reopens', () => {
    for (const state of FINAL_STATES) {
      for (const to of REQUEST_STATES) {
        if (state === 'complete_with_exceptions' && ['executing', 'propagating', 'complete', 'failed'].includes(to)) continue;
        expect(canMove(state, to), `${state} -> ${to}`).toBe(false);
      }
    }
  });
});
