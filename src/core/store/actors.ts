import type { AgentIdentity } from '../agents/agentIdentity.js';

/*
 * Who acts on the shared store (an actor, a participant and its sessions)
 * and what they hold (claims): the records every backend keeps and every
 * layer above reads. sharedStore.ts is the contract that uses them.
 */

/** Who made a change or holds a claim: enough for a person to find them. */
export interface Actor {
  readonly sessionId: string;
  readonly clientName: string;
  readonly participantId: string;
  /** The agent behind the session, when it said (R-AGT-2): its claims are the agent's, whatever the connection. */
  readonly agent?: AgentIdentity;
  /** Set on claims the edit guard took for the agent before an edit (R-AGT-4). */
  readonly via?: 'edit-guard';
  /** The git checkout it works in, as people name it ("feature (branch feature)"), when in a repository. */
  readonly worktree?: string;
  /** That checkout's path: its claims are its worktree's (rules/claims.ts, claimKey). */
  readonly checkout?: string;
}

/** Whose claims to release at once: a session, a participant, or an agent. */
export interface HolderFilter {
  readonly sessionId?: string;
  readonly participantId?: string;
  /** agentKey() of an agent identity. */
  readonly agentKey?: string;
}

export interface Claim {
  readonly resource: string;
  /** The git checkout (worktree path) the claim was made in; absent outside git. */
  readonly checkout?: string;
  readonly holder: Actor;
  readonly fencingToken: number;
  readonly acquiredAt: number;
  readonly expiresAt: number;
}

/** What an overlap with a claim in another worktree of the repository does (issue 17). */
export type AcrossWorktrees = 'warn' | 'refuse' | 'off';
export const ACROSS_WORKTREES: readonly AcrossWorktrees[] = ['warn', 'refuse', 'off'];

/** A granted claim, with the overlapping claims other worktrees hold (under `warn`). */
export interface Grant extends Claim {
  readonly elsewhere?: readonly Claim[];
}

/** What a participant says of itself when it opens a store: the rest of its presence record follows from the process. */
export interface ParticipantDescription {
  readonly kind: 'window' | 'headless';
  readonly label: string;
  /** Its HTTP endpoint, when it serves one. */
  readonly url?: string;
}

/** What a participant (a window or `serve`, the class `Participant`) publishes of itself: its presence and its sessions. */
export interface ParticipantInfo {
  readonly participantId: string;
  readonly pid: number;
  readonly host: string;
  readonly kind: 'window' | 'headless';
  readonly label: string;
  readonly startedAt: number;
  readonly heartbeatAt: number;
  readonly url?: string;
  readonly sessions: readonly ParticipantSession[];
}

export interface ParticipantSession {
  readonly id: string;
  readonly clientName: string;
  /** The git worktree and branch it works in: "feature (branch feature)". */
  readonly worktree?: string;
  readonly agent?: AgentIdentity;
  readonly transport: string;
  readonly state: string;
  readonly root: string;
  readonly tags: readonly string[];
  readonly requestCount: number;
  readonly lastActivityAt: number;
}

/** A request from a person (the panel of any window) to the participant that owns a session. */
export interface ControlRequest {
  readonly action: 'endSession';
  readonly sessionId: string;
  readonly requestedBy: string;
  readonly at: number;
}
