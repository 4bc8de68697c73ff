import { describe, expect, it } from 'vitest';
import { InvariantError } from '../../../src/errors.js';
import {
  canceledMail,
  closedUnverifiedMail,
  completionMail,
  denialMail,
  receiptMail,
  reminderMail,
  utcDay,
  verificationMail,
  verifiedMail,
  type DenialReason,
  type MailContent,
} from '../../../src/requests/notifications.js';

const ID = 'req_01hzy3k8q2m4n6p8r0s2t4v6wx';
// 23:30 on the 30th in UTC is already the 31st east of it: the mail must say the UTC day.
const DEADLINE = new Date('2026-12-30T23:30:00Z');
const EXPIRES = new Date('2026-12-08T00:15:00+02:00'); // 2026-12-07 in UTC
const CANCEL = 'https://privacy.shop.example/requests/req_01hzy3k8q2m4n6p8r0s2t4v6wx/cancel?t=abc';
const VERIFY = 'https://privacy.shop.example/requests/req_01hzy3k8q2m4n6p8r0s2t4v6wx/verify?t=def';

/** Only subject and text; short, plain, ends with the reference; no unfilled placeholder. */
function expectMailShape(mail: MailContent): void {
  expect(Object.keys(mail).sort()).toEqual(['subject', 'text']);
  expect(mail.subject.length).toBeLessThan(60);
  expect(mail.subject).not.toMatch(/[\r\n]/);
  expect(mail.text.endsWith(`Reference: ${ID}\n`)).toBe(true);
  expect(mail.text).not.toMatch(/undefined|null|NaN|\[object|\$\{|<[a-z]+>/i);
  expect(mail.text.split('\n').length).toBeLessThan(25);
  // Only UTC days: no times of day, no ISO timestamps.
  expect(mail.text).not.toMatch(/\d{2}:\d{2}|T\d{2}/);
}

describe('request notifications', () => {
  it('renders dates as the UTC calendar day', () => {
    expect(utcDay(DEADLINE)).toBe('2026-12-30');
    expect(utcDay(EXPIRES)).toBe('2026-12-07');
    expect(() => utcDay(new Date('nope'))).toThrow(InvariantError);
  });

  it('receipt: id, type, deadline, and the cancel link only when there is a grace period', () => {
    const withGrace = receiptMail({ requestId: ID, type: 'erasure', deadline: DEADLINE, cancelUrl: CANCEL });
    expectMailShape(withGrace);
    expect(withGrace.subject).toBe('We received your privacy request');
    expect(withGrace.text).toContain('request to erase your personal data');
    expect(withGrace.text).toContain('by 2026-12-30 (UTC)');
    expect(withGrace.text).toContain(CANCEL);

    const access = receiptMail({ requestId: ID, type: 'access', deadline: DEADLINE });
    expectMailShape(access);
    expect(access.text).toContain('request for a copy of your personal data');
    expect(access.text).not.toContain('cancel');
    expect(access.text).toContain('reply to this message');
  });

  it('verification: the 6-digit code, the link and the expiry day', () => {
    const m = verificationMail({ requestId: ID, code: '042917', verifyUrl: VERIFY, expiresAt: EXPIRES });
    expectMailShape(m);
    expect(m.subject).toBe('Confirm your privacy request');
    expect(m.text).toContain('    042917\n');
    expect(m.text).toContain(VERIFY);
    expect(m.text).toContain('expire on 2026-12-07 (UTC)');
    expect(m.text).not.toMatch(/reminder/i);
    expect(() => verificationMail({ requestId: ID, code: '12345', verifyUrl: VERIFY, expiresAt: EXPIRES })).toThrow(
      /6 digits/,
    );
  });

  it('reminder: the same code, link and expiry, and says it is a reminder', () => {
    const m = reminderMail({ requestId: ID, code: '042917', verifyUrl: VERIFY, expiresAt: EXPIRES });
    expectMailShape(m);
    expect(m.subject).toMatch(/^Reminder: /);
    expect(m.text).toMatch(/^This is a reminder/);
    expect(m.text).toContain('042917');
    expect(m.text).toContain(VERIFY);
    expect(m.text).toContain('2026-12-07');
  });

  it('verified: for an erasure with a grace period, its end and the cancel link; otherwise what happens now', () => {
    const grace = verifiedMail({
      requestId: ID,
      type: 'erasure',
      deadline: DEADLINE,
      grace: { endsAt: new Date('2026-12-15T12:00:00Z'), cancelUrl: CANCEL },
    });
    expectMailShape(grace);
    expect(grace.subject).toBe('Your privacy request is confirmed');
    expect(grace.text).toContain('start erasing your data on 2026-12-15 (UTC)');
    expect(grace.text).toContain(CANCEL);
    expect(grace.text).toContain('2026-12-30');

    const now = verifiedMail({ requestId: ID, type: 'erasure', deadline: DEADLINE });
    expectMailShape(now);
    expect(now.text).toContain('now erasing');
    expect(now.text).not.toContain('cancel');

    const access = verifiedMail({ requestId: ID, type: 'access', deadline: DEADLINE });
    expectMailShape(access);
    expect(access.text).toContain('request for a copy of your personal data is confirmed');
    expect(access.text).toContain('by 2026-12-30 (UTC)');
  });

  it("completion: the proof's summary line and the id", () => {
    const summary = 'Erased from 4 places; invoices kept 10 years (tax law).';
    const m = completionMail({ requestId: ID, type: 'erasure', summary });
    expectMailShape(m);
    expect(m.subject).toBe('Your privacy request is complete');
    expect(m.text).toContain(summary);
    expect(() => completionMail({ requestId: ID, type: 'erasure', summary: 'two\nlines' })).toThrow(/one line/);
  });

  it('denial: each reason code as a sentence, never the code itself', () => {
    const reasons: Record<DenialReason, RegExp> = {
      cannot_verify: /could not confirm that the request comes from the person/,
      no_such_subject: /hold no personal data/,
      not_covered: /gives no right to this request/,
      duplicate: /repeats a request/,
      manifestly_unfounded: /manifestly unfounded or excessive/,
    };
    for (const [reason, sentence] of Object.entries(reasons) as Array<[DenialReason, RegExp]>) {
      const m = denialMail({ requestId: ID, type: 'erasure', reason });
      expectMailShape(m);
      expect(m.subject).toBe('We cannot act on your privacy request');
      expect(m.text).toMatch(sentence);
      expect(m.text).not.toContain(reason);
      expect(m.text).toContain('data protection authority');
    }
    expect(() => denialMail({ requestId: ID, type: 'erasure', reason: 'because' as DenialReason })).toThrow(
      InvariantError,
    );
  });

  it('canceled and closed unverified say nothing was done', () => {
    const canceled = canceledMail({ requestId: ID, type: 'erasure' });
    expectMailShape(canceled);
    expect(canceled.subject).toBe('Your privacy request was canceled');
    expect(canceled.text).toContain('did not act on it');

    const closed = closedUnverifiedMail({ requestId: ID, type: 'access', expiredAt: EXPIRES });
    expectMailShape(closed);
    expect(closed.subject).toBe('Your privacy request was closed');
    expect(closed.text).toContain('expired on 2026-12-07 (UTC)');
    expect(closed.text).toContain('did not act on it');
    const withLink = closedUnverifiedMail({
      requestId: ID,
      type: 'access',
      expiredAt: EXPIRES,
      newRequestUrl: 'https://privacy.shop.example/requests/new',
    });
    expect(withLink.text).toContain('https://privacy.shop.example/requests/new');
  });

  it('refuses inputs that are not ids or links, so nothing else can slip into a mail', () => {
    expect(() => canceledMail({ requestId: 'Jane Doe', type: 'erasure' })).toThrow(/not a request id/);
    expect(() => receiptMail({ requestId: ID, type: 'erasure', deadline: DEADLINE, cancelUrl: 'javascript:x' })).toThrow(
      /scheme/,
    );
    expect(() => receiptMail({ requestId: ID, type: 'erasure', deadline: DEADLINE, cancelUrl: 'cancel here' })).toThrow(
      /not a URL/,
    );
  });

  it('ignores any field it was not written for (a name passed by mistake never reaches the text)', () => {
    const input = { requestId: ID, type: 'erasure' as const, name: 'Jane Doe', email: 'jane@example.test' };
    const m = canceledMail(input);
    expect(m.text).not.toContain('Jane');
    expect(m.text).not.toContain('jane@');
  });
});
