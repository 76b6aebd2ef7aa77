import type { AgentIdentity } from '../agents/agentIdentity.js';
import type { Disposable } from '../lifecycle/disposable.js';

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

export interface StoredValue {
  readonly value: unknown;
  readonly version: number;
  readonly updatedAt: number;
  readonly updatedBy: Actor;
}

/** One applied change, as the event log keeps it (R-CTX-5). */
export interface ChangeEvent {
  readonly namespace: string;
  readonly seq: number;
  readonly key: string;
  readonly op: 'set' | 'delete';
  readonly value?: unknown;
  readonly version: number;
  readonly previousVersion: number;
  readonly previousValue?: unknown;
  readonly at: number;
  readonly by: Actor;
}

export interface SetOptions {
  /** Compare-and-set: the write applies only if the key is at this version (0: absent). */
  expectedVersion?: number;
}

export interface HistoryPage {
  readonly records: ChangeEvent[];
  /** Pass back to continue after the last record; stable across rotation. */
  readonly nextCursor: string;
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

export interface StoreStatus {
  readonly kind: 'file' | 'memory' | 'redis';
  /** Where the data lives: a folder, or a project id on a server. */
  readonly location: string;
  readonly degraded: boolean;
  readonly reason?: string;
  /** `unreadable`: why a namespace could not be read (a file in the way, corruption); the others are still listed. */
  readonly namespaces: readonly { name: string; keys: number; lastSeq: number; unreadable?: string }[];
  readonly eventLogBytes: number;
}

/** A request from a person (the panel of any window) to the participant that owns a session. */
export interface ControlRequest {
  readonly action: 'endSession';
  readonly sessionId: string;
  readonly requestedBy: string;
  readonly at: number;
}

export type StoreEvent =
  | { kind: 'change'; change: ChangeEvent }
  | { kind: 'claims' }
  | { kind: 'presence' }
  | { kind: 'control'; request: ControlRequest }
  /** An inbox changed (a message arrived, was delivered or acknowledged): `inbox` is its key. */
  | { kind: 'inbox'; inbox: string };

/**
 * Everything windows and agents share (R-CTX-9): the file store is the
 * embedded default; other engines implement the same contract and pass the
 * same tests.
 */
export interface SharedStore extends Disposable {
  readonly participantId: string;
  get(namespace: string, key: string): Promise<StoredValue | undefined>;
  set(namespace: string, key: string, value: unknown, by: Actor, options?: SetOptions): Promise<StoredValue>;
  /** Read-modify-write under the shard's lock: never conflicts, so no retry loop. */
  update(namespace: string, key: string, fn: (current: StoredValue | undefined) => unknown, by: Actor): Promise<StoredValue>;
  delete(namespace: string, key: string, by: Actor, options?: SetOptions): Promise<{ deleted: boolean; version: number }>;
  list(namespace: string, prefix?: string): Promise<Array<{ key: string } & StoredValue>>;
  namespaces(): Promise<string[]>;
  history(options: { namespace?: string; cursor?: string; limit?: number; sessionId?: string }): Promise<HistoryPage>;

  /**
   * Grants `resource` in the holder's checkout. The same file claimed in
   * another worktree of the repository is refused, ignored, or (`warn`)
   * granted and returned in `elsewhere`.
   */
  acquireClaim(resource: string, holder: Actor, ttlMs: number, options?: { acrossWorktrees?: AcrossWorktrees }): Promise<Grant>;
  /** Renew and release are refused unless `by` is the holder's session and the token is the current one. */
  renewClaim(resource: string, fencingToken: number, ttlMs: number, by: Actor): Promise<Claim>;
  releaseClaim(resource: string, fencingToken: number, by: Actor): Promise<void>;
  listClaims(prefix?: string): Promise<Claim[]>;
  /** A person ends the exact grant they saw (the token, in its checkout), whoever holds it. */
  revokeClaim(resource: string, fencingToken: number, by: Actor, checkout?: string): Promise<void>;
  /** Releases every claim held by a session (it closed) or a participant (it is gone). */
  releaseClaimsOf(holder: HolderFilter): Promise<number>;
  /** Hands a claim `by` holds to `to`, atomically, under a new and larger fencing token (R-AGT-6). */
  transferClaim(resource: string, fencingToken: number, to: Actor, ttlMs: number, by: Actor): Promise<Claim>;

  /**
   * Inboxes (R-AGT-6) live in a namespace of their own that no context tool
   * reaches: one value per inbox, changed only by read-modify-write.
   */
  readInbox(inbox: string): Promise<StoredValue | undefined>;
  updateInbox(inbox: string, fn: (current: StoredValue | undefined) => unknown, by: Actor): Promise<StoredValue>;

  /** Delivered to every participant (itself included) as a `control` event. */
  sendControl(request: Omit<ControlRequest, 'at'>): Promise<void>;

  heartbeat(sessions: readonly ParticipantSession[]): Promise<void>;
  participants(): Promise<ParticipantInfo[]>;

  status(): Promise<StoreStatus>;
  /** What status() says first, without touching disk or network: cheap enough for every whoami. */
  describe(): Pick<StoreStatus, 'kind' | 'location' | 'degraded'>;
  onEvent(listener: (event: StoreEvent) => void): Disposable;
}
