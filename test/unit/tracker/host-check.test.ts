import { describe, expect, it } from 'vitest';
import { allowedHostNames, hostNameOf, isLoopback, originNameOf } from '../../../src/tracker/host-check.js';

describe('Host check', () => {
  it('reads the name of a Host header, with or without a port, IPv6 in brackets', () => {
    expect(hostNameOf('127.0.0.1:8720')).toBe('127.0.0.1');
    expect(hostNameOf('LocalHost')).toBe('localhost');
    expect(hostNameOf('lethe.corp.example.:443')).toBe('lethe.corp.example');
    expect(hostNameOf('[::1]:8720')).toBe('::1');
    expect(hostNameOf('[::1]')).toBe('::1');
    for (const bad of [undefined, '', '::1', '[nope]:1', 'a b', 'evil.example:80:80', 'evil.example/x', 'user@127.0.0.1']) expect(hostNameOf(bad)).toBeUndefined();
  });

  it('allows loopback names, the host listened on and the extra names; never a wildcard address', () => {
    expect([...allowedHostNames('127.0.0.1', [])].sort()).toEqual(['127.0.0.1', '::1', 'localhost']);
    expect(allowedHostNames('0.0.0.0', ['Lethe.Corp.Example'])).toEqual(new Set(['localhost', '127.0.0.1', '::1', 'lethe.corp.example']));
    expect(allowedHostNames('::', []).has('::')).toBe(false);
    expect(allowedHostNames('10.0.0.5', []).has('10.0.0.5')).toBe(true);
    expect(allowedHostNames('[fd00::5]', []).has('fd00::5')).toBe(true);
  });

  it('tells loopback from the rest', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) expect(isLoopback(host)).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.5', 'lethe.corp.example', '127.example.com']) expect(isLoopback(host)).toBe(false);
  });

  it('reads the host of an Origin header, and nothing from a null or odd origin', () => {
    expect(originNameOf('http://127.0.0.1:8720')).toBe('127.0.0.1');
    expect(originNameOf('https://[::1]:8720')).toBe('::1');
    expect(originNameOf('https://evil.example')).toBe('evil.example');
    expect(originNameOf('null')).toBeUndefined();
    expect(originNameOf('file:///tmp/x.html')).toBeUndefined();
  });
});
