import { isIP } from 'node:net';

/**
 * Which names the tracker answers to. A page on another site can make a browser send requests to
 * the tracker through DNS rebinding (its own name, re-pointed at 127.0.0.1), but the browser then
 * sends that name as `Host`; refusing every name the tracker was not configured under defeats it.
 * Ports are not compared: a rebinding page must use the tracker's port anyway.
 */
export function allowedHostNames(listenHost: string, extra: readonly string[]): Set<string> {
  const names = new Set(['localhost', '127.0.0.1', '::1']);
  if (!isWildcard(listenHost)) names.add(normalizeName(listenHost));
  for (const name of extra) names.add(normalizeName(name));
  return names;
}

/** Whether the tracker listening on this host is reachable only from this machine. */
export function isLoopback(host: string): boolean {
  const name = normalizeName(host);
  if (name === 'localhost' || name === '::1') return true;
  return isIP(name) === 4 && name.startsWith('127.');
}

function isWildcard(host: string): boolean {
  const name = normalizeName(host);
  return name === '0.0.0.0' || name === '::' || name === '';
}

function normalizeName(host: string): string {
  const lower = host.trim().toLowerCase().replace(/\.$/, '');
  return lower.startsWith('[') && lower.endsWith(']') ? lower.slice(1, -1) : lower;
}

/**
 * The name of a `Host` header (`name`, `name:port`, `[v6]`, `[v6]:port`), lower-cased; undefined
 * when it is not one (empty, a bare IPv6 address without brackets, junk after the port).
 */
export function hostNameOf(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(header);
  if (bracketed) return isIP(bracketed[1]!) === 6 ? bracketed[1]!.toLowerCase() : undefined;
  const plain = /^([A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(header);
  return plain ? normalizeName(plain[1]!) : undefined;
}

/** The host name of an `Origin` header; undefined for `null` or anything that is not an http(s) origin. */
export function originNameOf(header: string): string | undefined {
  try {
    const url = new URL(header);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    return normalizeName(url.hostname);
  } catch {
    return undefined;
  }
}
