import { z } from 'zod';
import { durationText } from './duration.js';
import { integer } from './zod-integer.js';
import { LAWS, type Law } from '../requests/deadlines.js';

/**
 * The catalog's `requests` section: how privacy requests are received, verified, held back and
 * answered. Every setting has a default, so a catalog without the section still takes requests
 * from operators; the public intake and every notification need `mail`.
 */
const DAY = 86_400_000;

const perType = (erasure: number, access: number) =>
  z.object({ erasure: durationOrZero.default(erasure), access: durationOrZero.default(access) }).strict().default({ erasure, access });

/** A duration, or `0` / `0d` for none. */
const durationOrZero = z.union([z.literal(0).transform(() => 0), z.string().regex(/^0\s*[smhdw]?$/).transform(() => 0), durationText]);

export const requestsSchema = z
  .object({
    // The base of every link in mail (verify, cancel): where people reach the tracker's /public routes.
    publicUrl: z.string().url().optional(),
    mail: z
      .object({ smtp: z.string().regex(/^smtps?:\/\//, 'an SMTP URL: smtp://host:port or smtps://user:pass@host:port'), from: z.string().min(3) })
      .strict()
      .optional(),
    defaultLaw: z.enum(LAWS).default('gdpr'),
    // How long a request waits, once verified (and approved), before it is executed; cancel works until then.
    gracePeriod: perType(14 * DAY, 0),
    approval: z.object({ erasure: z.boolean().default(false), access: z.boolean().default(false) }).strict().default({ erasure: false, access: false }),
    verification: z
      .object({ expiresIn: durationText.default(7 * DAY), remindAfter: durationText.default(DAY), maxAttempts: integer(1, 20).default(5) })
      .strict()
      .default({ expiresIn: 7 * DAY, remindAfter: DAY, maxAttempts: 5 }),
    // The public intake: at most `max` requests per client address per `timeWindow`.
    intakeRateLimit: z.object({ max: integer(1).default(5), timeWindow: durationText.default(60_000) }).strict().default({ max: 5, timeWindow: 60_000 }),
    // How long an access request's copy of the person's data is kept (encrypted) after completion, for download.
    accessExport: z.object({ retention: durationText.default(30 * DAY) }).strict().default({ retention: 30 * DAY }),
    // How often the request worker looks for due timers, mail to send and erasures that moved.
    tickMs: integer(50).default(1_000),
  })
  .strict();

export type RequestsFile = z.output<typeof requestsSchema>;

export interface RequestsConfig {
  /** The catalog has a `requests` section: the API, the public intake and the worker run. */
  enabled: boolean;
  publicUrl?: string;
  mail?: { smtp: string; from: string };
  defaultLaw: Law;
  graceMs: { erasure: number; access: number };
  approval: { erasure: boolean; access: boolean };
  verification: { expiresInMs: number; remindAfterMs: number; maxAttempts: number };
  intakeRateLimit: { max: number; timeWindowMs: number };
  accessExport: { retentionMs: number };
  tickMs: number;
}

export function resolveRequests(file: RequestsFile | undefined): RequestsConfig {
  const f = file ?? requestsSchema.parse({});
  return {
    enabled: file !== undefined,
    ...(f.publicUrl ? { publicUrl: f.publicUrl.replace(/\/+$/, '') } : {}),
    ...(f.mail ? { mail: f.mail } : {}),
    defaultLaw: f.defaultLaw,
    graceMs: f.gracePeriod,
    approval: f.approval,
    verification: { expiresInMs: f.verification.expiresIn, remindAfterMs: f.verification.remindAfter, maxAttempts: f.verification.maxAttempts },
    intakeRateLimit: { max: f.intakeRateLimit.max, timeWindowMs: f.intakeRateLimit.timeWindow },
    accessExport: { retentionMs: f.accessExport.retention },
    tickMs: f.tickMs,
  };
}
