/**
 * When a request must be answered, by the law it falls under. Pure.
 *
 * - GDPR (Art. 12(3)): one month from receipt, extendable once by up to two further months,
 *   with the reasons given to the person. A month ends on the same day of the next month; when
 *   that month has no such day, on its last day (Regulation 1182/71, Art. 3(2)(c)).
 * - CCPA (Cal. Civ. Code 1798.130(a)(2)): 45 days from receipt, extendable once by 45 more.
 */
export const LAWS = ['gdpr', 'ccpa'] as const;
export type Law = (typeof LAWS)[number];

const DAY_MS = 86_400_000;

/** `at` moved by whole calendar months in UTC, the day clamped to the target month's last. */
export function addMonths(at: number, months: number): number {
  const d = new Date(at);
  const year = d.getUTCFullYear();
  const month = d.getUTCMonth() + months;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return Date.UTC(year, month, Math.min(d.getUTCDate(), lastDay), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds());
}

export function deadlineOf(law: Law, receivedAt: number): number {
  return law === 'gdpr' ? addMonths(receivedAt, 1) : receivedAt + 45 * DAY_MS;
}

/** The latest a deadline may be extended to (once). */
export function latestExtensionOf(law: Law, deadline: number): number {
  return law === 'gdpr' ? addMonths(deadline, 2) : deadline + 45 * DAY_MS;
}

export const EXTENSION_RULE: Record<Law, string> = {
  gdpr: 'GDPR allows one extension by up to two further months',
  ccpa: 'CCPA allows one extension by up to 45 further days',
};
