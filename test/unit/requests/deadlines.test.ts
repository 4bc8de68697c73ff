import { describe, expect, it } from 'vitest';
import { addMonths, deadlineOf, latestExtensionOf } from '../../../src/requests/deadlines.js';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

describe('deadlines per law', () => {
  it('GDPR: one calendar month, the same day of the next month', () => {
    expect(iso(deadlineOf('gdpr', at('2026-12-01T10:00:00Z')))).toBe('2027-01-01T10:00:00.000Z');
    expect(iso(deadlineOf('gdpr', at('2026-03-15T00:00:00Z')))).toBe('2026-04-15T00:00:00.000Z');
  });

  it('GDPR: a month without that day ends on its last day (31 January -> 28 February, 29 in a leap year)', () => {
    expect(iso(deadlineOf('gdpr', at('2027-01-31T08:30:00Z')))).toBe('2027-02-28T08:30:00.000Z');
    expect(iso(deadlineOf('gdpr', at('2028-01-31T08:30:00Z')))).toBe('2028-02-29T08:30:00.000Z');
    expect(iso(deadlineOf('gdpr', at('2026-08-31T00:00:00Z')))).toBe('2026-09-30T00:00:00.000Z');
  });

  it('GDPR: the extension is two further months, clamped the same way', () => {
    expect(iso(latestExtensionOf('gdpr', at('2026-12-31T12:00:00Z')))).toBe('2027-02-28T12:00:00.000Z');
    expect(iso(addMonths(at('2026-11-30T00:00:00Z'), 2))).toBe('2027-01-30T00:00:00.000Z');
  });

  it('CCPA: 45 days, extendable by 45', () => {
    expect(iso(deadlineOf('ccpa', at('2026-12-01T10:00:00Z')))).toBe('2027-01-15T10:00:00.000Z');
    expect(iso(latestExtensionOf('ccpa', at('2027-01-15T10:00:00Z')))).toBe('2027-03-01T10:00:00.000Z');
  });
});
