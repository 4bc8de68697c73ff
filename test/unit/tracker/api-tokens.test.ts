import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { allows, bearerOf, createToken, findToken, hashToken, parseTokenList, tokenProblem } from '../../../src/tracker/api-tokens.js';

describe('API tokens', () => {
  it('makes a random token with a lethe_ prefix, and configures only its SHA-256', () => {
    const a = createToken('ops-alice', 'operator');
    const b = createToken('ops-alice', 'operator');
    expect(a.token).toMatch(/^lethe_[A-Za-z0-9_-]{43}$/);
    expect(a.token).not.toBe(b.token);
    expect(a.entry).toEqual({ name: 'ops-alice', role: 'operator', sha256: createHash('sha256').update(a.token).digest('hex') });
    expect(JSON.stringify(a.entry)).not.toContain(a.token.slice('lethe_'.length));
    expect(hashToken('lethe_x')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('finds the token whose hash matches, and no other', () => {
    const alice = createToken('ops-alice', 'operator');
    const reader = createToken('grafana', 'reader');
    const tokens = [alice.entry, reader.entry];
    expect(findToken(tokens, alice.token)).toEqual(alice.entry);
    expect(findToken(tokens, reader.token)).toEqual(reader.entry);
    expect(findToken(tokens, `${alice.token}x`)).toBeUndefined();
    expect(findToken(tokens, alice.entry.sha256)).toBeUndefined(); // the hash itself is no token
    expect(findToken(tokens, '')).toBeUndefined();
    expect(findToken([], alice.token)).toBeUndefined();
  });

  it('reads a Bearer header, and nothing else', () => {
    expect(bearerOf('Bearer lethe_abc')).toBe('lethe_abc');
    expect(bearerOf('bearer   lethe_abc ')).toBe('lethe_abc');
    expect(bearerOf('Basic dXNlcjpwYXNz')).toBeUndefined();
    expect(bearerOf('Bearer')).toBeUndefined();
    expect(bearerOf('Bearer a b')).toBeUndefined();
    expect(bearerOf(undefined)).toBeUndefined();
  });

  it('lets an operator read, and a reader only read', () => {
    expect([allows('operator', 'operator'), allows('operator', 'reader'), allows('reader', 'reader'), allows('reader', 'operator')]).toEqual([true, true, true, false]);
  });

  it('parses LETHE_API_TOKENS and names each bad entry', () => {
    const hash = 'AB'.repeat(32);
    expect(parseTokenList(` ops-alice:operator:${hash},\n grafana:reader:${'cd'.repeat(32)} `)).toEqual({
      tokens: [
        { name: 'ops-alice', role: 'operator', sha256: hash.toLowerCase() },
        { name: 'grafana', role: 'reader', sha256: 'cd'.repeat(32) },
      ],
      problems: [],
    });
    expect(parseTokenList('').tokens).toEqual([]);
    expect(parseTokenList(`a:admin:${hash} b:reader:lethe_secret c:reader:${hash}:x`).problems).toEqual([
      'entry 1: role "admin": one of reader, operator',
      'entry 2: sha256: this is a token, not its hash; configure the hash `lethe token create` printed, and never the token itself',
      'entry 3: expected name:role:sha256',
    ]);
    expect(tokenProblem({ name: 'Ops Alice', role: 'reader', sha256: hash })).toMatch(/^name "Ops Alice"/);
  });
});
