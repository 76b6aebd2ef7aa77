import { CoordinatorError } from '../errors.js';

/** The one state machine of a session (R-SES-2). */
export type SessionState =
  | { readonly kind: 'initializing' }
  | { readonly kind: 'active' }
  /** Its client's connection dropped; ended after a grace unless the client comes back (R-AGT-1). */
  | { readonly kind: 'disconnected'; readonly reason: string; readonly since: number }
  | { readonly kind: 'closing'; readonly reason: string }
  | { readonly kind: 'closed'; readonly reason: string }
  | { readonly kind: 'failed'; readonly reason: string };

export type SessionStateKind = SessionState['kind'];

const NEXT: Record<SessionStateKind, readonly SessionStateKind[]> = {
  initializing: ['active', 'failed'],
  active: ['disconnected', 'closing', 'failed'],
  disconnected: ['active', 'closing', 'failed'],
  closing: ['closed', 'failed'],
  closed: [],
  failed: [],
};

export function isLive(state: SessionState): boolean {
  return state.kind === 'initializing' || state.kind === 'active' || state.kind === 'disconnected';
}

/** Throws, changing nothing, when `to` may not follow `from`. */
export function checkTransition(sessionId: string, from: SessionState, to: SessionState): void {
  if (!NEXT[from.kind].includes(to.kind)) {
    throw new CoordinatorError('IllegalStateTransition', `Session ${sessionId} cannot go from ${from.kind} to ${to.kind}`, {
      sessionId,
      from: from.kind,
      to: to.kind,
    });
  }
}

export function describeState(state: SessionState): string {
  return 'reason' in state ? `${state.kind} (${state.reason})` : state.kind;
}
