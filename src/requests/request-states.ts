/**
 * The states a privacy request moves through, and which moves are allowed. Pure: the store
 * applies a move only when this table allows it, as a compare-and-set on the stored state, so
 * two instances racing for one move never both make it.
 */
export const REQUEST_TYPES = ['erasure', 'access'] as const;
export type RequestType = (typeof REQUEST_TYPES)[number];

export const REQUEST_STATES = [
  'received',
  'identity_unverified',
  'verified',
  'awaiting_approval',
  'waiting',
  'executing',
  'propagating',
  'complete',
  'complete_with_exceptions',
  'failed',
  'canceled',
  'denied',
  'closed_unverified',
] as const;
export type RequestState = (typeof REQUEST_STATES)[number];

export const DENIAL_REASONS = ['cannot_verify', 'no_such_subject', 'not_covered', 'duplicate', 'manifestly_unfounded'] as const;
export type DenialReason = (typeof DENIAL_REASONS)[number];

/** Nothing more happens to a request in these (but a released hold may reopen an exception). */
export const FINAL_STATES: ReadonlySet<RequestState> = new Set(['complete', 'complete_with_exceptions', 'canceled', 'denied', 'closed_unverified']);

/** Before the point of no return: the person or an operator may still cancel. */
export const CANCELABLE: ReadonlySet<RequestState> = new Set(['received', 'identity_unverified', 'verified', 'awaiting_approval', 'waiting']);

/** Where an operator may still deny. */
export const DENIABLE: ReadonlySet<RequestState> = new Set(['received', 'identity_unverified', 'verified', 'awaiting_approval', 'waiting']);

const MOVES: Record<RequestState, readonly RequestState[]> = {
  received: ['identity_unverified', 'verified', 'canceled', 'denied'],
  identity_unverified: ['verified', 'closed_unverified', 'canceled', 'denied'],
  verified: ['awaiting_approval', 'waiting', 'executing', 'canceled', 'denied'],
  awaiting_approval: ['waiting', 'executing', 'canceled', 'denied'],
  waiting: ['executing', 'canceled', 'denied'],
  // A hold over everything keeps it all: the request completes with that exception at once.
  executing: ['propagating', 'complete', 'complete_with_exceptions', 'failed'],
  propagating: ['complete', 'complete_with_exceptions', 'failed'],
  // A failed erasure redriven later completes after all; a failed execution is retried by an operator.
  failed: ['executing', 'propagating', 'complete', 'complete_with_exceptions'],
  // Releasing a hold erases what it kept, through the same path (and that may fail).
  complete_with_exceptions: ['executing', 'propagating', 'complete', 'failed'],
  complete: [],
  canceled: [],
  denied: [],
  closed_unverified: [],
};

export function canMove(from: RequestState, to: RequestState): boolean {
  return MOVES[from].includes(to);
}

/** Who made a move: `token:<name>`, `cli:<OS user>`, `subject` (the person, by code or link) or `system`. */
export type Actor = string;
