import { z } from 'zod';
import { API_ROLES, hashProblem, TOKEN_NAME } from '../tracker/api-tokens.js';

/**
 * The catalog's `tracker` settings for who may use the HTTP API: token hashes with a name and a
 * role, extra host names the tracker answers to, and TLS files. Kept apart from the rest of the
 * tracker section so the access rules read in one place.
 */
const tokenEntry = z
  .object({
    name: z.string().regex(TOKEN_NAME, "a token's name is lower-case letters, digits, '.', '_' and '-', at most 64 (e.g. ops-alice)"),
    role: z.enum(API_ROLES, { message: `a role is one of ${API_ROLES.join(', ')}` }),
    sha256: z.string().superRefine((hash, ctx) => {
      const problem = hashProblem(hash);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }).transform((hash) => hash.toLowerCase()),
  })
  .strict();

const HOST_NAME = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$|^[0-9a-fA-F:.]+$/;

export const trackerAccessFields = {
  // Bearer tokens of the HTTP API, as hashes (`lethe token create` prints one). LETHE_API_TOKENS
  // adds more from the environment.
  tokens: z
    .array(tokenEntry)
    .default([])
    .superRefine((list, ctx) => {
      const seen = new Set<string>();
      list.forEach((t, i) => {
        if (seen.has(t.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `${t.name} is already the name of another token` });
        seen.add(t.name);
      });
    }),
  // Names the API answers to besides loopback and tracker.host (the name clients and a proxy use).
  allowedHosts: z.array(z.string().regex(HOST_NAME, 'a host name or IP address, without a port or scheme')).default([]),
  // The proxies in front whose X-Forwarded-For names the client (the public intake's rate limit
  // is per client address): their addresses or CIDR ranges. None by default: the socket's peer.
  trustProxy: z.array(z.string().min(1)).default([]),
  // Serve HTTPS with these PEM files, rather than relying on a proxy in front.
  tls: z.object({ cert: z.string().min(1), key: z.string().min(1) }).strict().optional(),
};
