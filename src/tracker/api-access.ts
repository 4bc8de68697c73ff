import { allows, bearerOf, findToken, type ApiRole, type ApiToken } from './api-tokens.js';
import { allowedHostNames, hostNameOf, isLoopback, originNameOf } from './host-check.js';

/**
 * Who may do what through the tracker's HTTP API. Each route needs one of: `open` (the dashboard's
 * page, which holds no data; health), `reader` (statuses, reports, the stream, sinks, metrics),
 * `operator` (confirmations and every write). Writes always need an operator token, so a page in a
 * browser can never forge one (it has no token, and cannot read one); reads are open only on a
 * loopback tracker with no tokens configured at all. Every request but the health check must name
 * the tracker by an allowed `Host`, which defeats DNS rebinding.
 */
export type Access = 'open' | ApiRole;

export interface AccessPolicy {
  tokens: readonly ApiToken[];
  hosts: ReadonlySet<string>;
  /** No token configured and loopback only: reads need no token. */
  readsOpen: boolean;
  /** Listening on loopback: /metrics needs no token (it carries counts and names, no subject). */
  metricsOpen: boolean;
}

export function accessPolicy(tracker: { tokens: readonly ApiToken[]; allowedHosts: readonly string[] }, listenHost: string): AccessPolicy {
  const loopback = isLoopback(listenHost);
  return {
    tokens: tracker.tokens,
    hosts: allowedHostNames(listenHost, tracker.allowedHosts),
    readsOpen: loopback && tracker.tokens.length === 0,
    metricsOpen: loopback,
  };
}

export interface AccessRequest {
  host: string | undefined;
  origin: string | undefined;
  authorization: string | undefined;
}

export type AccessDecision =
  | { ok: true; token: ApiToken | undefined }
  | { ok: false; status: 401 | 403 | 421; code: string; message: string; challenge?: string };

const REALM = 'Bearer realm="lethe"';

/** The decision for one request to a route that needs `access`; pure, so every rule has a unit test. */
export function decideAccess(policy: AccessPolicy, request: AccessRequest, access: Access | 'health'): AccessDecision {
  if (access === 'health') return { ok: true, token: undefined };
  const host = hostNameOf(request.host);
  if (!host || !policy.hosts.has(host)) {
    return {
      ok: false,
      status: 421,
      code: 'HOST_NOT_ALLOWED',
      message: `Host ${JSON.stringify(request.host ?? '')} is not a name this tracker answers to; add the name clients use to tracker.allowedHosts`,
    };
  }
  if (access === 'operator' && request.origin !== undefined) {
    const origin = originNameOf(request.origin);
    if (!origin || !policy.hosts.has(origin)) {
      return { ok: false, status: 403, code: 'ORIGIN_NOT_ALLOWED', message: `a write from origin ${JSON.stringify(request.origin)} is refused: only the tracker's own names may write` };
    }
  }
  if (access === 'open') return { ok: true, token: undefined };

  const presented = bearerOf(request.authorization);
  if (request.authorization !== undefined && presented === undefined) {
    return { ok: false, status: 401, code: 'UNAUTHENTICATED', message: 'the Authorization header is not `Bearer <token>`', challenge: `${REALM}, error="invalid_request"` };
  }
  if (presented !== undefined) {
    const token = findToken(policy.tokens, presented);
    if (!token) return { ok: false, status: 401, code: 'INVALID_TOKEN', message: 'the bearer token is not one of tracker.tokens', challenge: `${REALM}, error="invalid_token"` };
    if (!allows(token.role, access)) {
      return { ok: false, status: 403, code: 'FORBIDDEN', message: `token ${token.name} is a ${token.role}; this needs an ${access} token`, challenge: `${REALM}, error="insufficient_scope"` };
    }
    return { ok: true, token };
  }
  if (access === 'reader' && policy.readsOpen) return { ok: true, token: undefined };
  const hint =
    policy.tokens.length === 0
      ? access === 'operator'
        ? 'writes through the API need an operator token and none is configured: `lethe token create --name <you> --role operator`, or confirm with `lethe confirm`'
        : 'this tracker needs a token and none is configured'
      : `this needs ${access === 'operator' ? 'an operator' : 'a reader or operator'} token (Authorization: Bearer <token>)`;
  return { ok: false, status: 401, code: 'UNAUTHENTICATED', message: hint, challenge: REALM };
}

/**
 * Whether the API may listen on `host`: beyond loopback, anyone who can reach the port could read
 * every status, so tokens are required; without TLS they would cross the network in clear.
 */
export function exposureOf(tracker: { tokens: readonly ApiToken[]; tls?: unknown }, host: string): { refused?: string; clearText?: string } {
  if (isLoopback(host)) return {};
  if (tracker.tokens.length === 0) {
    return {
      refused: `tracker.host ${host} is reachable beyond this machine and tracker.tokens is empty: anyone who reaches the port could read every erasure's status. Configure tokens (\`lethe token create\`), or listen on 127.0.0.1 behind a proxy`,
    };
  }
  if (!tracker.tls) {
    return {
      clearText: `tracker.host ${host} is reachable beyond this machine without TLS: bearer tokens would cross the network in clear. Set tracker.tls { cert, key }, or listen on 127.0.0.1 behind a proxy that terminates TLS`,
    };
  }
  return {};
}
