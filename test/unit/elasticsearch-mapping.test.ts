import { describe, expect, it } from 'vitest';
import { bulkFailure, redactReason } from '../../connectors/elasticsearch-errors.js';
import { resolveField } from '../../connectors/elasticsearch-fields.js';
import { copiedFrom, patternCovers, runtimeProblem, sourceProblem, unmappedProblem } from '../../connectors/elasticsearch-mapping.js';
import { missingSource, planSearch } from '../../connectors/elasticsearch-query.js';

describe('patternCovers', () => {
  it('matches a _source filter pattern against the path or an object enclosing it', () => {
    expect(patternCovers('user_id', 'user_id')).toBe(true);
    expect(patternCovers('user_*', 'user_id')).toBe(true);
    expect(patternCovers('profile', 'profile.email')).toBe(true);
    expect(patternCovers('profile.*', 'profile.email')).toBe(true);
    expect(patternCovers('*.email', 'profile.email')).toBe(true);
    expect(patternCovers('user', 'user_id')).toBe(false);
    expect(patternCovers('profile.email', 'profile')).toBe(false);
    expect(patternCovers('a.b', 'axb')).toBe(false);
  });
});

describe('sourceProblem', () => {
  it('refuses _source disabled, or filtered so the field is dropped', () => {
    expect(sourceProblem({}, 'user_id')).toBeUndefined();
    expect(sourceProblem({ _source: { enabled: false } }, 'user_id')).toContain('_source is disabled');
    expect(sourceProblem({ _source: { excludes: ['meta', 'user_*'] } }, 'user_id')).toContain('_source.excludes user_* drops field user_id');
    expect(sourceProblem({ _source: { excludes: ['meta'] } }, 'user_id')).toBeUndefined();
    expect(sourceProblem({ _source: { includes: ['body'] } }, 'user_id')).toContain('_source.includes leaves field user_id out');
    expect(sourceProblem({ _source: { includes: ['profile'] } }, 'profile.user_id')).toBeUndefined();
  });
});

describe('copiedFrom', () => {
  it('finds the fields, at any depth, whose copy_to fills a path', () => {
    const properties = { first: { type: 'keyword', copy_to: 'all' }, user: { properties: { id: { type: 'keyword', copy_to: ['all', 'other'] } } }, all: { type: 'keyword' } };
    expect(copiedFrom(properties, 'all')).toEqual(['first', 'user.id']);
    expect(copiedFrom(properties, 'first')).toEqual([]);
  });
});

describe('unmappedProblem', () => {
  it('follows dynamic from the root through the nearest enclosing object, and stops at enabled: false', () => {
    expect(unmappedProblem({}, 'user_id')).toBeUndefined();
    expect(unmappedProblem({ dynamic: 'strict' }, 'user_id')).toBeUndefined();
    expect(unmappedProblem({ dynamic: false }, 'user_id')).toContain('dynamic: false at the mapping root');
    expect(unmappedProblem({ dynamic: 'false' }, 'user_id')).toContain('dynamic: false at the mapping root');
    expect(unmappedProblem({ dynamic: 'runtime' }, 'user_id')).toContain('dynamic: runtime at the mapping root');
    // An object's own dynamic wins over the root's, for fields inside it only.
    const mapping = { dynamic: 'false', properties: { profile: { properties: { user: { dynamic: 'true', properties: {} } } } } };
    expect(unmappedProblem(mapping, 'profile.user.id')).toBeUndefined();
    expect(unmappedProblem(mapping, 'profile.id')).toContain('dynamic: false at the mapping root');
    expect(unmappedProblem({ properties: { profile: { dynamic: false, properties: {} } } }, 'profile.id')).toContain('dynamic: false at profile');
    // Dotted names (subobjects: false) are found as one property.
    expect(unmappedProblem({ properties: { 'a.b': { enabled: false, type: 'object' } } }, 'a.b.c')).toContain('inside a.b, an object with enabled: false');
    expect(unmappedProblem({ properties: { meta: { type: 'object', enabled: false } } }, 'meta.user_id')).toContain('inside meta, an object with enabled: false');
  });
});

describe('runtimeProblem', () => {
  it('refuses a runtime field named like the match field or an object enclosing it', () => {
    expect(runtimeProblem({ runtime: { user_id: {} } }, 'user_id')).toContain('field user_id is a runtime field');
    expect(runtimeProblem({ runtime: { profile: {} } }, 'profile.id')).toContain('field profile is a runtime field');
    expect(runtimeProblem({ runtime: { user: {} } }, 'user_id')).toBeUndefined();
  });
});

describe('resolveField with what documents cannot show', () => {
  it('refuses, before any type rule, a runtime field shadowing an indexed one, an unsearchable field and a copy_to target', () => {
    const keyword = { type: 'keyword' };
    expect(resolveField({ runtime: { user_id: {} }, properties: { user_id: keyword } }, 'user_id')).toEqual({ problem: expect.stringContaining('runtime field') });
    expect(resolveField({ properties: { user_id: { type: 'keyword', index: false, doc_values: false } } }, 'user_id')).toEqual({ problem: expect.stringContaining('cannot be searched') });
    expect(resolveField({ properties: { user_id: { type: 'keyword', index: false } } }, 'user_id')).toMatchObject({ query: 'user_id' });
    expect(resolveField({ properties: { a: { type: 'keyword', copy_to: 'all' }, all: { type: 'text', fields: { raw: keyword } } } }, 'all')).toEqual({
      problem: expect.stringContaining('field all is filled by copy_to from a'),
    });
    expect(resolveField({ dynamic: 'false', properties: {} }, 'user_id')).toEqual({ problem: expect.stringContaining('dynamic: false') });
    expect(resolveField({ dynamic: 'strict', properties: {} }, 'user_id')).toBeUndefined();
  });
});

describe('missingSource', () => {
  it('names the first match field a candidate holds no _source value for', () => {
    const fields = [
      { query: 't', source: 't', type: 'keyword', kind: 'string' as const },
      { query: 'n', source: 'n', type: 'long', kind: 'number' as const },
    ];
    const plan = planSearch({ groups: [{ indices: ['i'], fields }], indices: ['i'], unmapped: [] }, [['a', '1']]);
    expect(missingSource(plan, { _index: 'i', _source: { t: 'a', n: 1 } })).toBeUndefined();
    expect(missingSource(plan, { _index: 'i', _source: { t: 'b', n: 2 } })).toBeUndefined();
    expect(missingSource(plan, { _index: 'i', _source: { t: 'a', n: null } })).toBe('n');
    expect(missingSource(plan, { _index: 'i', _source: { t: [], n: 1 } })).toBe('t');
    expect(missingSource(plan, { _index: 'i' })).toBe('t');
  });
});

describe('redactReason', () => {
  it("drops the field value preview and every quoted value, keeping field names and types", () => {
    const reason = "[1:24] failed to parse field [age] of type [integer] in document with id 'ada@seeded.example'. Preview of field's value: 'it's ada'";
    expect(redactReason(reason)).toBe('[1:24] failed to parse field [age] of type [integer] in document with id (value withheld)');
    expect(redactReason('For input string: "ada \\" lovelace"')).toBe('For input string: (value withheld)');
    expect(redactReason(undefined)).toBe('no reason given');
    expect(bulkFailure('bulk delete in users', [{ status: 400, error: { type: 'document_parsing_exception', reason } }, { status: 400 }])).toBe(
      'bulk delete in users: 2 item(s) failed, first: document_parsing_exception: [1:24] failed to parse field [age] of type [integer] in document with id (value withheld)',
    );
  });
});
