/**
 * How a subject's key (text, as PostgreSQL prints it) is compared with a BigQuery column in the
 * column's own type. A key is accepted only in its type's canonical form, the one text that
 * parses to its value and that the value formats back to, so that converting it inside the
 * statement is a bijection: `01`, `+1` or ` 1` against an INT64 column is refused, never taken
 * for 1. Pure.
 *
 * Ids travel as ARRAY<STRING> and are converted in SQL (`sqlOf`): the BigQuery emulator drops the
 * element type of array parameters (every element arrives as a string), so a typed array would
 * behave differently there and in BigQuery; converting canonical text is exact in both.
 */

/** Types a match column may have, with the SQL that turns a canonical key into the column's type. */
const CONVERSIONS: Record<string, (text: string) => string> = {
  STRING: (t) => t,
  INT64: (t) => `CAST(${t} AS INT64)`,
  NUMERIC: (t) => `CAST(${t} AS NUMERIC)`,
  BIGNUMERIC: (t) => `CAST(${t} AS BIGNUMERIC)`,
  BOOL: (t) => `CAST(${t} AS BOOL)`,
  DATE: (t) => `CAST(${t} AS DATE)`,
  TIMESTAMP: (t) => `CAST(${t} AS TIMESTAMP)`,
  BYTES: (t) => `FROM_HEX(${t})`,
};

/** The legacy names the table schema API reports, by their standard SQL name. */
const SCHEMA_NAMES: Record<string, string> = { INTEGER: 'INT64', FLOAT: 'FLOAT64', BOOLEAN: 'BOOL', DECIMAL: 'NUMERIC', BIGDECIMAL: 'BIGNUMERIC', RECORD: 'STRUCT' };

export const MATCHABLE_TYPES: readonly string[] = Object.keys(CONVERSIONS);

/**
 * A column's type in standard SQL terms (`INTEGER` → `INT64`); `ARRAY<…>` for a repeated column;
 * `STRING COLLATE '<spec>'` for a string with a collation (its own, or inherited from the table's
 * or dataset's default when it was created), which compares by that collation, not byte for byte.
 */
export function standardType(schemaType: string | undefined, mode?: string, collation?: string): string {
  let type = SCHEMA_NAMES[schemaType ?? 'STRING'] ?? schemaType ?? 'STRING';
  if (type === 'STRING' && collation) type = `STRING COLLATE '${collation}'`;
  return mode === 'REPEATED' ? `ARRAY<${type}>` : type;
}

/** Why a column of this type cannot name a subject exactly, or undefined when it can. */
export function unmatchableReason(type: string): string | undefined {
  if (CONVERSIONS[type]) return undefined;
  const why =
    type === 'FLOAT64'
      ? 'floating-point equality is not an identity'
      : type.startsWith('STRING COLLATE')
        ? "a collation makes = compare by it (und:ci: 'bob' equals 'Bob'); drop the collation or match another column"
        : 'no exact text form is defined for it';
  return `type ${type} cannot be matched exactly (${why}); match columns may be ${MATCHABLE_TYPES.join(', ')}`;
}

/** The SQL converting the STRING expression `text` (a canonical key) to `type`. */
export function sqlOf(type: string, text: string): string {
  const convert = CONVERSIONS[type];
  if (!convert) throw new TypeError(`no conversion to BigQuery type ${type}`);
  return convert(text);
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const DECIMAL = /^-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$/;
const DATE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/;
const TIMESTAMP = /^([0-9]{4}-[0-9]{2}-[0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{0,5}[1-9])?\+00$/;
const BYTES = /^\\x((?:[0-9a-f]{2})*)$/;

/** Digits allowed before and after the point: NUMERIC is (38, 9); BIGNUMERIC's integer part is capped at 38 digits here. */
const DECIMAL_DIGITS: Record<string, [number, number]> = { NUMERIC: [29, 9], BIGNUMERIC: [38, 38] };

const CANONICAL: Record<string, string> = {
  INT64: 'decimal digits without leading zeros or "+", within the 64-bit range',
  NUMERIC: 'decimal without leading or trailing zeros, "+" or exponent, at most 29 digits before the point and 9 after',
  BIGNUMERIC: 'decimal without leading or trailing zeros, "+" or exponent, at most 38 digits before the point and 38 after',
  BOOL: '"true" or "false"',
  DATE: 'YYYY-MM-DD, a real date',
  TIMESTAMP: 'YYYY-MM-DD HH:MM:SS[.ffffff]+00 in UTC, fraction without trailing zeros (PostgreSQL\'s timestamptz text in UTC)',
  BYTES: '\\x and lower-case hex pairs (PostgreSQL\'s bytea hex text)',
};

/**
 * The key as the text the statement converts, or an error saying which form the type needs.
 * STRING takes any text as it is: BigQuery compares strings byte for byte (case and trailing
 * spaces count).
 */
export function canonicalKey(type: string, key: string): { text: string } | { error: string } {
  // The key itself stays out of the message: it goes into acks and reports kept for years.
  const refused = { error: `the subject's key is not a canonical ${type} (${CANONICAL[type] ?? 'no form'}); it is not matched` };
  switch (type) {
    case 'STRING':
      return { text: key };
    case 'INT64': {
      if (!/^-?(0|[1-9][0-9]*)$/.test(key) || key === '-0') return refused;
      const n = BigInt(key);
      return n < INT64_MIN || n > INT64_MAX ? refused : { text: key };
    }
    case 'NUMERIC':
    case 'BIGNUMERIC': {
      if (!DECIMAL.test(key) || key === '-0') return refused;
      const [whole, fraction = ''] = key.replace('-', '').split('.') as [string, string?];
      const [maxWhole, maxFraction] = DECIMAL_DIGITS[type]!;
      return whole.length > maxWhole || fraction.length > maxFraction ? refused : { text: key };
    }
    case 'BOOL':
      return key === 'true' || key === 'false' ? { text: key } : refused;
    case 'DATE':
      return isDate(key) ? { text: key } : refused;
    case 'TIMESTAMP': {
      const m = TIMESTAMP.exec(key);
      if (!m || !isDate(m[1]!) || Number(m[2]) > 23 || Number(m[3]) > 59 || Number(m[4]) > 59) return refused;
      return { text: key };
    }
    case 'BYTES': {
      const m = BYTES.exec(key);
      return m ? { text: m[1]! } : refused;
    }
    default:
      return { error: unmatchableReason(type) ?? refused.error };
  }
}

function isDate(text: string): boolean {
  const m = DATE.exec(text);
  if (!m) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (year < 1 || month < 1 || month > 12 || day < 1) return false;
  const date = new Date(Date.UTC(2000, month - 1, day));
  date.setUTCFullYear(year);
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}
