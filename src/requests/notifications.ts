import { InvariantError } from '../errors.js';

/**
 * The mail a privacy request sends to the person who made it, one pure function per moment of its
 * life (received, confirm the address, reminder, confirmed, done, refused, canceled, closed
 * unconfirmed). Plain text, short, for a member of the public. The inputs are only ids, dates,
 * links, codes, reason codes and summary lines: never a name or anything read from the subject's
 * rows, so a mail can carry nothing the request did not already show. Dates are calendar days in
 * UTC (YYYY-MM-DD), said so once per mail.
 */

export type RequestType = 'erasure' | 'access';

export type DenialReason = 'cannot_verify' | 'no_such_subject' | 'not_covered' | 'duplicate' | 'manifestly_unfounded';

export interface MailContent {
  subject: string;
  text: string;
}

export interface ReceiptInput {
  requestId: string;
  type: RequestType;
  deadline: Date;
  /** Given when the request has a grace period, in which it can still be canceled. */
  cancelUrl?: string;
}

export interface VerificationInput {
  requestId: string;
  /** Six digits. */
  code: string;
  verifyUrl: string;
  expiresAt: Date;
}

export interface VerifiedInput {
  requestId: string;
  type: RequestType;
  deadline: Date;
  /** For an erasure with a grace period: when it ends, the link that cancels until then, and the one that downloads a copy first. */
  grace?: { endsAt: Date; cancelUrl: string; exportUrl?: string };
}

export interface CompletionInput {
  requestId: string;
  type: RequestType;
  /** The proof's one-line summary, e.g. "Erased from 4 places; invoices kept 10 years (tax law)." */
  summary: string;
  /** For an access request: the link to the copy of the person's data, and until when it works. */
  download?: { url: string; until: Date };
}

export interface DenialInput {
  requestId: string;
  type: RequestType;
  reason: DenialReason;
}

export interface CanceledInput {
  requestId: string;
  type: RequestType;
}

export interface ClosedUnverifiedInput {
  requestId: string;
  type: RequestType;
  /** When the confirmation code expired. */
  expiredAt: Date;
  /** Where a new request can be made, when there is such a page. */
  newRequestUrl?: string;
}

const WHAT: Record<RequestType, string> = {
  erasure: 'request to erase your personal data',
  access: 'request for a copy of your personal data',
};

const DENIAL_SENTENCES: Record<DenialReason, string> = {
  cannot_verify: 'We could not confirm that the request comes from the person the data is about.',
  no_such_subject: 'We hold no personal data linked to the address the request was made for.',
  not_covered: 'The privacy law that applies gives no right to this request for the data we hold.',
  duplicate: 'It repeats a request of yours that we are already handling or have just completed.',
  manifestly_unfounded: 'It is manifestly unfounded or excessive, which the law allows us to refuse.',
};

const NOT_YOU =
  'If you did not make this request, you can ignore this message: without confirmation we will not act on it.';

/** A calendar day in UTC: YYYY-MM-DD. */
export function utcDay(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new InvariantError('notifications: an invalid date');
  return date.toISOString().slice(0, 10);
}

function requestIdOf(id: string): string {
  if (!/^req_[a-z0-9]+$/i.test(id)) throw new InvariantError(`notifications: '${id}' is not a request id`);
  return id;
}

function link(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvariantError('notifications: a link that is not a URL');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new InvariantError(`notifications: a link with the scheme '${parsed.protocol}'`);
  }
  return parsed.toString();
}

function oneLine(text: string, what: string): string {
  const line = text.trim();
  if (line === '' || /[\r\n]/.test(line)) throw new InvariantError(`notifications: the ${what} must be one line`);
  return line;
}

function mail(subject: string, paragraphs: Array<string | undefined>, requestId: string): MailContent {
  const body = paragraphs.filter((p): p is string => p !== undefined);
  body.push(`Reference: ${requestIdOf(requestId)}`);
  return { subject, text: `${body.join('\n\n')}\n` };
}

export function receiptMail(input: ReceiptInput): MailContent {
  return mail(
    'We received your privacy request',
    [
      `We received your ${WHAT[input.type]}. We will complete it by ${utcDay(input.deadline)} (UTC) at the latest.`,
      'If we need to confirm that this address is yours, you will get a separate message with a code.',
      input.cancelUrl === undefined
        ? 'If you did not make this request, please reply to this message.'
        : 'Changed your mind, or did not make this request? Until we start, you can cancel it here:\n' +
          link(input.cancelUrl),
    ],
    input.requestId,
  );
}

function verificationParagraphs(input: VerificationInput): string[] {
  if (!/^\d{6}$/.test(input.code)) throw new InvariantError('notifications: a verification code must be 6 digits');
  return [
    `To confirm, enter this code where you made the request:\n\n    ${input.code}\n\n` +
      `or open this link:\n${link(input.verifyUrl)}`,
    `The code and the link expire on ${utcDay(input.expiresAt)} (UTC).`,
    NOT_YOU,
  ];
}

export function verificationMail(input: VerificationInput): MailContent {
  return mail(
    'Confirm your privacy request',
    [
      'Please confirm that you made this privacy request, and that this address is yours.',
      ...verificationParagraphs(input),
    ],
    input.requestId,
  );
}

export function reminderMail(input: VerificationInput): MailContent {
  return mail(
    'Reminder: confirm your privacy request',
    [
      'This is a reminder: we are still waiting for you to confirm your privacy request.',
      ...verificationParagraphs(input),
    ],
    input.requestId,
  );
}

export function verifiedMail(input: VerifiedInput): MailContent {
  const deadline = utcDay(input.deadline);
  let next: string[];
  if (input.type === 'erasure' && input.grace !== undefined) {
    next = [
      `We will start erasing your data on ${utcDay(input.grace.endsAt)} (UTC). ` +
        `Until then, you can cancel the request here:\n${link(input.grace.cancelUrl)}`,
      ...(input.grace.exportUrl ? [`Until then, you can also download a copy of your data before it is erased:\n${link(input.grace.exportUrl)}`] : []),
      `We will write to you again when it is done, by ${deadline} at the latest.`,
    ];
  } else if (input.type === 'erasure') {
    next = [
      `We are now erasing your data, and will write to you again when it is done, by ${deadline} (UTC) at the latest.`,
    ];
  } else {
    next = [`We are now preparing our answer, and will write to you again by ${deadline} (UTC) at the latest.`];
  }
  const thanks = `Thank you: your ${WHAT[input.type]} is confirmed.`;
  return mail('Your privacy request is confirmed', [thanks, ...next], input.requestId);
}

export function completionMail(input: CompletionInput): MailContent {
  return mail(
    'Your privacy request is complete',
    [
      `Your ${WHAT[input.type]} is complete.`,
      oneLine(input.summary, 'summary'),
      input.download === undefined
        ? undefined
        : `Download your copy (a JSON file) here, until ${utcDay(input.download.until)} (UTC):\n${link(input.download.url)}\n\n` +
          'Keep the link to yourself: anyone who has it can download the copy until then.',
    ],
    input.requestId,
  );
}

export function denialMail(input: DenialInput): MailContent {
  const sentence = DENIAL_SENTENCES[input.reason];
  if (sentence === undefined) {
    throw new InvariantError(`notifications: no wording for the denial reason '${String(input.reason)}'`);
  }
  return mail(
    'We cannot act on your privacy request',
    [
      `We cannot act on your ${WHAT[input.type]}. ${sentence}`,
      'If you think this is wrong, you can reply to this message. ' +
        'You may also complain to a data protection authority.',
    ],
    input.requestId,
  );
}

export function canceledMail(input: CanceledInput): MailContent {
  return mail(
    'Your privacy request was canceled',
    [`Your ${WHAT[input.type]} was canceled. We did not act on it.`, 'You can make a new request at any time.'],
    input.requestId,
  );
}

export function closedUnverifiedMail(input: ClosedUnverifiedInput): MailContent {
  return mail(
    'Your privacy request was closed',
    [
      `We closed your ${WHAT[input.type]}, because it was not confirmed before the code expired ` +
        `on ${utcDay(input.expiredAt)} (UTC). We did not act on it.`,
      input.newRequestUrl === undefined
        ? 'If you still want it, please make a new request.'
        : `If you still want it, please make a new request:\n${link(input.newRequestUrl)}`,
    ],
    input.requestId,
  );
}

export interface ExtendedInput {
  requestId: string;
  type: RequestType;
  /** The new deadline. */
  deadline: Date;
  /** Why more time is needed, as the operator recorded it (the law asks that the person be told). */
  reason: string;
}

export function extendedMail(input: ExtendedInput): MailContent {
  return mail(
    'Your privacy request needs more time',
    [
      `We need more time to complete your ${WHAT[input.type]}. We will complete it by ${utcDay(input.deadline)} (UTC) at the latest.`,
      `The reason: ${oneLine(input.reason, 'reason')}`,
    ],
    input.requestId,
  );
}
