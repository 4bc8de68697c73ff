import { describe, expect, it } from 'vitest';
import { canonicalKey, standardType, unmatchableReason } from '../../../connectors/bigquery-values.js';

const accepted = (type: string, key: string) => 'text' in canonicalKey(type, key);

describe('BigQuery canonical keys', () => {
  it('INT64: decimal digits only, no leading zero, no sign but -, within 64 bits', () => {
    for (const key of ['0', '1', '10', '-1', '9223372036854775807', '-9223372036854775808']) expect(accepted('INT64', key), key).toBe(true);
    for (const key of ['01', '+1', ' 1', '1 ', '-0', '1.0', '1e3', '0x1A', '', '9223372036854775808', '-9223372036854775809', '１']) expect(accepted('INT64', key), key).toBe(false);
    expect(canonicalKey('INT64', '01')).toEqual({ error: expect.stringMatching(/the subject's key is not a canonical INT64 \(decimal digits without leading zeros/) });
  });

  it('NUMERIC and BIGNUMERIC: no leading or trailing zeros, within the digits the type holds', () => {
    for (const key of ['0', '1.5', '-0.25', '10', '12345678901234567890123456789.123456789']) expect(accepted('NUMERIC', key), key).toBe(true);
    for (const key of ['1.50', '01.5', '.5', '1.', '+1', '-0', '1e2', '1.0123456789', '123456789012345678901234567890']) expect(accepted('NUMERIC', key), key).toBe(false);
    expect(accepted('BIGNUMERIC', '1.0123456789')).toBe(true);
    expect(accepted('BIGNUMERIC', '1.50')).toBe(false);
  });

  it('BOOL, DATE, TIMESTAMP and BYTES: one text per value', () => {
    expect(['true', 'false', 'TRUE', 't', '1'].map((k) => accepted('BOOL', k))).toEqual([true, true, false, false, false]);
    expect(['2024-02-29', '2023-02-29', '2024-13-01', '2024-1-01', '0000-01-01', '9999-12-31'].map((k) => accepted('DATE', k))).toEqual([true, false, false, false, false, true]);
    const ts = ['2024-01-02 03:04:05+00', '2024-01-02 03:04:05.123+00', '2024-01-02 03:04:05.120+00', '2024-01-02T03:04:05Z', '2024-01-02 03:04:05+01', '2024-01-02 24:00:00+00', '2024-01-02 03:04:05.1234567+00'];
    expect(ts.map((k) => accepted('TIMESTAMP', k))).toEqual([true, true, false, false, false, false, false]);
    expect(canonicalKey('BYTES', '\\x01ab')).toEqual({ text: '01ab' });
    expect(['\\x01AB', '\\x1', '01ab', '\\x'].map((k) => accepted('BYTES', k))).toEqual([false, false, false, true]);
  });

  it('STRING: any text, exactly as it is', () => {
    for (const key of ['Bob', 'bob ', ' bob', '', 'a\u001fb']) expect(canonicalKey('STRING', key)).toEqual({ text: key });
  });

  it('refuses types that cannot name a subject exactly, and reads the schema API\'s legacy names', () => {
    expect(unmatchableReason('FLOAT64')).toMatch(/FLOAT64 cannot be matched exactly \(floating-point/);
    expect(unmatchableReason('DATETIME')).toMatch(/match columns may be STRING, INT64/);
    expect(unmatchableReason('INT64')).toBeUndefined();
    // A collated string compares by its collation: und:ci makes 'bob' equal 'Bob'.
    expect(standardType('STRING', 'NULLABLE', 'und:ci')).toBe("STRING COLLATE 'und:ci'");
    expect(unmatchableReason(standardType('STRING', 'NULLABLE', 'und:ci'))).toMatch(/STRING COLLATE 'und:ci' cannot be matched exactly \(a collation makes = compare by it/);
    expect(standardType('STRING', 'NULLABLE', '')).toBe('STRING');
    expect(canonicalKey('FLOAT64', '1')).toEqual({ error: expect.stringMatching(/cannot be matched exactly/) });
    expect([standardType('INTEGER'), standardType('FLOAT'), standardType('BOOLEAN'), standardType('STRING', 'REPEATED'), standardType(undefined)]).toEqual(['INT64', 'FLOAT64', 'BOOL', 'ARRAY<STRING>', 'STRING']);
  });
});
