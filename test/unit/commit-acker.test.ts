import { describe, expect, it } from 'vitest';
import { CommitAcker } from '../../src/cdc/commit-acker.js';
import { formatLsn, parseLsn } from '../../src/cdc/lsn.js';

describe('LSN', () => {
  it('round-trips PostgreSQL text form and orders numerically', () => {
    expect(formatLsn(parseLsn('16/B374D848'))).toBe('16/B374D848');
    expect(parseLsn('1/0')).toBeGreaterThan(parseLsn('0/FFFFFFFF'));
    expect(() => parseLsn('16-B374')).toThrow(/not a PostgreSQL LSN/);
  });
});

describe('CommitAcker', () => {
  it('never confirms past a commit that is not yet durable', () => {
    const acker = new CommitAcker(100n);
    acker.begin();
    const a = acker.commit(200n);
    acker.begin();
    const b = acker.commit(300n);
    acker.begin();
    const c = acker.commit(400n);

    b.settle();
    c.settle();
    expect(acker.confirmableLsn()).toBe(100n); // a is still outstanding
    a.settle();
    expect(acker.confirmableLsn()).toBe(400n);
    expect(acker.outstandingCount()).toBe(0);
  });

  it('advances in order as commits settle in order', () => {
    const acker = new CommitAcker();
    const tickets = [10n, 20n, 30n].map((lsn) => (acker.begin(), acker.commit(lsn)));
    tickets[0]!.settle();
    expect(acker.confirmableLsn()).toBe(10n);
    tickets[1]!.settle();
    tickets[1]!.settle(); // settling twice changes nothing
    expect(acker.confirmableLsn()).toBe(20n);
  });

  it('lets a safe point advance the slot only when nothing is open or outstanding', () => {
    const acker = new CommitAcker(50n);
    expect(acker.safePoint(80n)).toBe(true);
    expect(acker.confirmableLsn()).toBe(80n);

    acker.begin();
    expect(acker.safePoint(500n)).toBe(false); // inside a transaction
    const t = acker.commit(120n);
    expect(acker.safePoint(500n)).toBe(false); // its events are not durable yet
    expect(acker.confirmableLsn()).toBe(80n);
    t.settle();
    expect(acker.confirmableLsn()).toBe(120n);
    expect(acker.safePoint(500n)).toBe(true);
    expect(acker.confirmableLsn()).toBe(500n);
    expect(acker.safePoint(400n)).toBe(false); // never backwards
    expect(acker.confirmableLsn()).toBe(500n);
  });

  it('refuses a commit LSN that goes backwards', () => {
    const acker = new CommitAcker(100n);
    acker.begin();
    expect(() => acker.commit(90n)).toThrow(/backwards/);
  });
});
