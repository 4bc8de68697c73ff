import { describe, expect, it } from 'vitest';
import { asBytes, commonPrefix, globToRegExp, literalPrefix } from '../../connectors/redis-glob.js';

const matches = (pattern: string, key: string) => globToRegExp(pattern)!.test(asBytes(key));

describe('Redis glob patterns on the client', () => {
  it('reads *, ? and escapes as Redis does', () => {
    expect(matches('session:42:*', 'session:42:')).toBe(true);
    expect(matches('session:42:*', 'session:42:a:b')).toBe(true);
    expect(matches('session:42:*', 'session:420:a')).toBe(false);
    expect(matches('a?c', 'abc')).toBe(true);
    expect(matches('a?c', 'ac')).toBe(false);
    expect(matches('4\\*2:*', '4*2:x')).toBe(true);
    expect(matches('4\\*2:*', '4x2:x')).toBe(false);
    expect(matches('a\\?b', 'a?b')).toBe(true);
    expect(matches('a\\?b', 'aXb')).toBe(false);
    expect(matches('x\\\\y', 'x\\y')).toBe(true);
    expect(matches('a.b(c)+', 'a.b(c)+')).toBe(true);
    expect(matches('a.b', 'aXb')).toBe(false);
    expect(matches('trailing\\', 'trailing\\')).toBe(true);
    expect(matches('**', '')).toBe(true);
  });

  it('matches bytes: ? is one byte of a multi-byte character', () => {
    expect(matches('caf?', 'café')).toBe(false);
    expect(matches('caf??', 'café')).toBe(true);
    expect(matches('😀:*', '😁:x')).toBe(false);
    expect(asBytes(Buffer.from([0xff]))).toBe('\u00ff');
  });

  it('leaves character classes to Redis', () => {
    expect(globToRegExp('user:[ab]*')).toBeUndefined();
    expect(globToRegExp('user:\\[ab]*')).toBeDefined();
  });

  it('finds the literal prefix of a pattern and the common prefix of several', () => {
    expect(literalPrefix('session:4\\*2:*')).toBe('session:4*2:');
    expect(literalPrefix('a?b')).toBe('a');
    expect(literalPrefix('plain')).toBe('plain');
    expect(commonPrefix(['session:1:', 'session:10:', 'session:2:'])).toBe('session:');
    expect(commonPrefix([])).toBe('');
  });
});
