import { describe, expect, it } from 'vitest';
import { canonicalDecimal, holdsKey, keyProblem, resolveField, resolveTarget, sourceValues, type ResolvedField } from '../../connectors/elasticsearch-fields.js';
import { exactSubjects, planSearch, tupleKey } from '../../connectors/elasticsearch-query.js';
import { JsonNumber } from '../../connectors/exact-json.js';
import type { EsTarget } from '../../src/catalog/sinks.js';

/** What dynamic mapping makes of a string: text with a keyword subfield. */
const dynamicString = { type: 'text', fields: { keyword: { type: 'keyword', ignore_above: 256 } } };
const long: ResolvedField = { query: 'n', source: 'n', type: 'long', kind: 'number' };
const keyword: ResolvedField = { query: 'k', source: 'k', type: 'keyword', kind: 'string', ignoreAbove: 5 };

describe('canonicalDecimal', () => {
  it('writes every form of a number one way, exactly', () => {
    const cases: Array<[string, string | null]> = [
      ['1', '1'], ['01', '1'], ['+1', '1'], ['1.0', '1'], ['1e0', '1'], ['1.', '1'], ['10', '10'], ['12300', '12300'],
      ['-0', '0'], ['0.000', '0'], ['.5', '0.5'], ['1.50', '1.5'], ['0.001', '0.001'], ['1.5e-1', '0.15'], ['1E3', '1000'], ['-1e+21', '-1000000000000000000000'],
      ['9007199254740993', '9007199254740993'], ['18446744073709551615', '18446744073709551615'],
      [' 1', null], ['1 ', null], ['', null], ['.', null], ['0x10', null], ['1e', null], ['1,5', null], ['Infinity', null], ['--1', null],
    ];
    for (const [text, canonical] of cases) expect(canonicalDecimal(text), text).toBe(canonical);
  });
});

describe('keyProblem', () => {
  it('refuses a key a numeric field would coerce, naming index and field, never quoting the key', () => {
    for (const key of ['01', '1.0', ' 1', '+1', '1e0', '-0', 'abc', '']) {
      const problem = keyProblem(long, key, 'accounts');
      expect(problem, key).toContain('field n of index accounts (long)');
      if (key.length > 0) expect(problem).not.toContain(`'${key}'`);
    }
    expect(keyProblem(long, '1', 'accounts')).toBeUndefined();
    expect(keyProblem(long, '-9223372036854775808', 'a')).toBeUndefined();
    expect(keyProblem(long, '9223372036854775808', 'a')).toContain('out of the range');
    expect(keyProblem(long, '1.5', 'a')).toContain('not an integer');
    expect(keyProblem({ ...long, type: 'unsigned_long' }, '18446744073709551615', 'a')).toBeUndefined();
    expect(keyProblem({ ...long, type: 'unsigned_long' }, '-1', 'a')).toContain('out of the range');
    expect(keyProblem({ ...long, type: 'byte' }, '128', 'a')).toContain('out of the range');
    expect(keyProblem({ ...long, type: 'double' }, '1.5', 'a')).toBeUndefined();
    expect(keyProblem({ ...long, type: 'double' }, '1.50', 'a')).toContain('canonical decimal');
    expect(keyProblem({ ...long, type: 'half_float' }, '70000', 'a')).toContain('out of the range');
  });

  it('refuses a key longer than a keyword indexes; a boolean key must be true or false', () => {
    expect(keyProblem(keyword, 'abcde', 'i')).toBeUndefined();
    expect(keyProblem(keyword, 'abcdef', 'i')).toContain('ignore_above 5 of field k of index i');
    const bool: ResolvedField = { query: 'b', source: 'b', type: 'boolean', kind: 'boolean' };
    expect(keyProblem(bool, 'true', 'i')).toBeUndefined();
    expect(keyProblem(bool, 'yes', 'i')).toContain('not true or false');
  });
});

describe('holdsKey', () => {
  it('compares strings exactly and numbers by their canonical form', () => {
    expect(holdsKey(keyword, 'bob', 'bob')).toBe(true);
    expect(holdsKey(keyword, 'Bob', 'bob')).toBe(false);
    expect(holdsKey(keyword, 42, '42')).toBe(true);
    expect(holdsKey(keyword, new JsonNumber('1.0'), '1')).toBe(false);
    expect(holdsKey(long, 1, '1')).toBe(true);
    expect(holdsKey(long, new JsonNumber('1.0'), '1')).toBe(true);
    expect(holdsKey(long, '01', '1')).toBe(true);
    expect(holdsKey(long, 1.5, '1')).toBe(false);
    expect(holdsKey(long, new JsonNumber('9007199254740993'), '9007199254740993')).toBe(true);
    expect(holdsKey(long, 9007199254740992, '9007199254740993')).toBe(false);
    expect(holdsKey(long, null, '1')).toBe(false);
    expect(holdsKey(long, { n: 1 }, '1')).toBe(false);
  });
});

describe('sourceValues', () => {
  it('reads object paths, dotted names and arrays of values or objects', () => {
    expect(sourceValues({ user: { id: 'a' } }, 'user.id')).toEqual(['a']);
    expect(sourceValues({ 'user.id': 'a' }, 'user.id')).toEqual(['a']);
    expect(sourceValues({ user: [{ id: 'a' }, { id: ['b', 'c'] }] }, 'user.id')).toEqual(['a', 'b', 'c']);
    expect(sourceValues({ user_id: null }, 'user_id')).toEqual([]);
    expect(sourceValues({}, 'user_id')).toEqual([]);
  });
});

describe('resolveField', () => {
  it('uses a keyword, number or boolean field itself, and a text field through its keyword subfield', () => {
    expect(resolveField({ properties: { user_id: dynamicString } }, 'user_id')).toEqual({ query: 'user_id.keyword', source: 'user_id', type: 'keyword', kind: 'string', ignoreAbove: 256 });
    expect(resolveField({ properties: { user_id: { type: 'keyword' } } }, 'user_id')).toEqual({ query: 'user_id', source: 'user_id', type: 'keyword', kind: 'string' });
    expect(resolveField({ properties: { n: { type: 'long' } } }, 'n')).toEqual({ query: 'n', source: 'n', type: 'long', kind: 'number' });
    expect(resolveField({ properties: { b: { type: 'boolean' } } }, 'b')).toMatchObject({ kind: 'boolean' });
    // A multi-field named directly: the document's value is its parent's.
    expect(resolveField({ properties: { user_id: dynamicString } }, 'user_id.keyword')).toMatchObject({ query: 'user_id.keyword', source: 'user_id' });
    expect(resolveField({ properties: { user: { properties: { id: { type: 'keyword' } } } } }, 'user.id')).toMatchObject({ query: 'user.id', source: 'user.id' });
    expect(resolveField({ properties: { 'user.id': { type: 'keyword' } } }, 'user.id')).toMatchObject({ query: 'user.id', source: 'user.id' });
    expect(resolveField({ properties: { other: { type: 'keyword' } } }, 'user_id')).toBeUndefined();
  });

  it('prefers a keyword subfield without a normalizer, and keeps a normalizer it has to use', () => {
    const both = { type: 'text', fields: { lower: { type: 'keyword', normalizer: 'lowercase' }, raw: { type: 'keyword' } } };
    expect(resolveField({ properties: { e: both } }, 'e')).toEqual({ query: 'e.raw', source: 'e', type: 'keyword', kind: 'string' });
    const lowerOnly = { type: 'text', fields: { lower: { type: 'keyword', normalizer: 'lowercase' } } };
    expect(resolveField({ properties: { e: lowerOnly } }, 'e')).toMatchObject({ query: 'e.lower', normalizer: 'lowercase' });
    expect(resolveField({ properties: { e: { type: 'keyword', normalizer: 'lc' } } }, 'e')).toMatchObject({ query: 'e', normalizer: 'lc' });
  });

  it('refuses text without a keyword subfield, other types, objects and nested fields', () => {
    expect(resolveField({ properties: { user_id: { type: 'text' } } }, 'user_id')).toEqual({ problem: expect.stringContaining('field user_id is text without a keyword subfield') });
    expect(resolveField({ properties: { user_id: { type: 'text', fields: { en: { type: 'text' } } } } }, 'user_id')).toMatchObject({ problem: expect.stringContaining('without a keyword subfield') });
    expect(resolveField({ properties: { at: { type: 'date' } } }, 'at')).toMatchObject({ problem: expect.stringContaining('field at is of type date') });
    expect(resolveField({ properties: { user: { properties: { id: { type: 'keyword' } } } } }, 'user')).toMatchObject({ problem: 'user is an object, not a field' });
    expect(resolveField({ properties: { items: { type: 'nested', properties: { id: { type: 'keyword' } } } } }, 'items.id')).toMatchObject({ problem: expect.stringContaining('items is a nested object') });
  });
});

describe('resolveTarget', () => {
  const target: EsTarget = { index: 'users-*', match: ['user_id'], action: { kind: 'delete' } };

  it('groups the indices of a pattern by how their field resolves, and notes indices without it', () => {
    const resolved = resolveTarget(target, {
      'users-2': { mappings: { properties: { user_id: { type: 'keyword' } } } },
      'users-1': { mappings: { properties: { user_id: dynamicString } } },
      'users-3': { mappings: { properties: { user_id: dynamicString } } },
      'users-4': { mappings: {} },
    });
    expect(resolved).toEqual({
      groups: [
        { indices: ['users-1', 'users-3'], fields: [expect.objectContaining({ query: 'user_id.keyword' })] },
        { indices: ['users-2'], fields: [expect.objectContaining({ query: 'user_id' })] },
      ],
      indices: ['users-1', 'users-2', 'users-3', 'users-4'],
      unmapped: [{ index: 'users-4', field: 'user_id' }],
    });
    expect(resolveTarget(target, {})).toEqual({ groups: [], indices: [], unmapped: [] });
  });

  it('refuses the target when one index cannot match exactly, or none maps the field', () => {
    const text = resolveTarget(target, { 'users-1': { mappings: { properties: { user_id: dynamicString } } }, 'users-2': { mappings: { properties: { user_id: { type: 'text' } } } } });
    expect(text).toEqual({ problem: expect.stringContaining('index users-2: field user_id is text without a keyword subfield') });
    expect(resolveTarget(target, { 'users-1': { mappings: { properties: { other: { type: 'keyword' } } } } })).toEqual({ problem: expect.stringContaining('no index of users-* maps the match field user_id') });
    const composite: EsTarget = { ...target, match: ['tenant', 'no'] };
    expect(resolveTarget(composite, { a: { mappings: { properties: { tenant: { type: 'keyword' } } } }, b: { mappings: { properties: { no: { type: 'long' } } } } })).toEqual({
      problem: expect.stringContaining('maps all the match fields tenant, no'),
    });
  });
});

describe('planSearch and exactSubjects', () => {
  it('refuses a subject only for the keys a group cannot match, and keeps a candidate only for an exact value', () => {
    const target: EsTarget = { index: 'acc-*', match: ['tenant', 'no'], action: { kind: 'delete' } };
    const resolution = resolveTarget(target, {
      'acc-1': { mappings: { properties: { tenant: dynamicString, no: { type: 'long' } } } },
    });
    if ('problem' in resolution) throw new Error(resolution.problem);
    const plan = planSearch(resolution, [['Acme', '42'], ['Acme', '042']]);
    expect(plan.groups[0]!.values).toEqual([['Acme', '42']]);
    expect(plan.refused.get(tupleKey(['Acme', '042']))).toContain('field no of index acc-1 (long)');
    expect(exactSubjects(plan, { _index: 'acc-1', _source: { tenant: 'Acme', no: 42 } })).toEqual([tupleKey(['Acme', '42'])]);
    expect(exactSubjects(plan, { _index: 'acc-1', _source: { tenant: 'acme', no: 42 } })).toEqual([]);
    expect(exactSubjects(plan, { _index: 'acc-1', _source: { tenant: ['x', 'Acme'], no: [1, new JsonNumber('42.0')] } })).toEqual([tupleKey(['Acme', '42'])]);
    expect(exactSubjects(plan, { _index: 'acc-2', _source: { tenant: 'Acme', no: 42 } })).toEqual([]);
  });
});
