import { afterEach, describe, expect, it, vi } from 'vitest';
import { CatalogError } from '../../src/catalog/catalog-error.js';
import { LetheError, ServiceUnavailableError } from '../../src/errors.js';
import { endsTheService, RunningState } from '../../src/running-state.js';

/** A RunningState on a clock the test moves; jitter drawn at its top (random() = 1) unless told. */
function runningState(options: { random?: () => number } = {}) {
  const clock = { t: 0 };
  const controller = new AbortController();
  const state = new RunningState(controller.signal, {
    initialDelayMs: 100,
    maxDelayMs: 1000,
    healthyAfterMs: 5000,
    now: () => clock.t,
    random: options.random ?? (() => 1),
  });
  return { state, clock, controller };
}

describe('RunningState backoff', () => {
  it('doubles the delay with each failure in a row, up to the ceiling', () => {
    const { state } = runningState();
    expect([1, 2, 3, 4, 5, 6].map(() => state.nextDelay())).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(state.failures()).toBe(6);
  });

  it('jitters within the upper half of the ceiling', () => {
    const { state: low } = runningState({ random: () => 0 });
    expect([1, 2, 3].map(() => low.nextDelay())).toEqual([50, 100, 200]);
    const { state: mid } = runningState({ random: () => 0.5 });
    expect(mid.nextDelay()).toBe(75);
  });

  it('starts over after a healthy stretch', () => {
    const { state, clock } = runningState();
    for (let i = 0; i < 5; i += 1) state.nextDelay();
    state.healthy();
    clock.t += 5000;
    expect(state.nextDelay()).toBe(100);
    expect(state.failures()).toBe(1);
  });

  it('keeps growing after a session shorter than the healthy stretch', () => {
    const { state, clock } = runningState();
    state.nextDelay();
    state.nextDelay();
    state.healthy();
    clock.t += 4999;
    expect(state.nextDelay()).toBe(400);
  });

  it('counts a healthy stretch from the first healthy() of a session, and only for that session', () => {
    const { state, clock } = runningState();
    state.nextDelay();
    state.healthy();
    clock.t += 3000;
    state.healthy(); // a second mark in the same session does not restart the stretch
    clock.t += 2000;
    expect(state.nextDelay()).toBe(100);
    // The next session never became healthy: the long wall time since the mark above does not count.
    clock.t += 60_000;
    expect(state.nextDelay()).toBe(200);
  });

  it('a session that never became healthy does not reset, however long it took', () => {
    const { state, clock } = runningState();
    state.nextDelay();
    clock.t += 60_000;
    expect(state.nextDelay()).toBe(200);
  });
});

describe('RunningState waits', () => {
  afterEach(() => void vi.useRealTimers());

  it('waits the backoff delay', async () => {
    vi.useFakeTimers();
    const { state } = runningState();
    let done = false;
    const waiting = state.backoff().then((ms) => ((done = true), ms));
    await vi.advanceTimersByTimeAsync(99);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await expect(waiting).resolves.toBe(100);
  });

  it('a stop cuts a wait short, and resolves rather than throws', async () => {
    vi.useFakeTimers();
    const { state, controller } = runningState();
    for (let i = 0; i < 10; i += 1) state.nextDelay();
    const waiting = state.backoff();
    await vi.advanceTimersByTimeAsync(10);
    controller.abort();
    await expect(waiting).resolves.toBe(1000);
    expect(state.shouldRun()).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a wait after the stop returns at once', async () => {
    vi.useFakeTimers();
    const { state, controller } = runningState();
    controller.abort();
    await state.wait(60_000);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a plain wait (a standby polling) leaves the backoff as it was', async () => {
    vi.useFakeTimers();
    const { state } = runningState();
    state.nextDelay();
    const waiting = state.wait(1000);
    await vi.advanceTimersByTimeAsync(1000);
    await waiting;
    expect(state.failures()).toBe(1);
    expect(state.nextDelay()).toBe(200);
  });
});

describe('endsTheService', () => {
  it('ends on programmer errors and on Lethe errors no retry can mend', () => {
    expect(endsTheService(new TypeError('x is not a function'))).toBe(true);
    expect(endsTheService(new RangeError('invalid array length'))).toBe(true);
    expect(endsTheService(new CatalogError('catalog', [{ path: 'subjects.user.table', message: 'no such table' }]))).toBe(true);
    expect(endsTheService(new LetheError('SLOT_MISSING', "replication slot 'x' does not exist"))).toBe(true);
  });

  it('restarts on infrastructure errors', () => {
    expect(endsTheService(new Error('connect ECONNREFUSED 127.0.0.1:5432'))).toBe(false);
    expect(endsTheService(new ServiceUnavailableError('kafka', 'no broker answered'))).toBe(false);
    expect(endsTheService(new LetheError('REPLICATION_ENDED', 'the replication stream ended', { retriable: true }))).toBe(false);
  });
});
