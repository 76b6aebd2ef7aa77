import type { Logger } from '../logging/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type {
  AcrossWorktrees,
  Actor,
  Claim,
  ControlRequest,
  Grant,
  HolderFilter,
  ParticipantDescription,
  ParticipantInfo,
  ParticipantSession,
} from './actors.js';
import type { Disposable } from '../lifecycle/disposable.js';

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

export type StoreEvent =
  | { kind: 'change'; change: ChangeEvent }
  | { kind: 'claims' }
  | { kind: 'presence' }
  | { kind: 'control'; request: ControlRequest }
  /** An inbox changed (a message arrived, was delivered or acknowledged): `inbox` is its key. */
  | { kind: 'inbox'; inbox: string };

/** What every backend is opened with, besides where its data lives. */
export interface StoreDeps {
  participant: ParticipantDescription;
  metrics: Metrics;
  logger: Logger;
}

/**
 * Everything windows and agents share (R-CTX-9): the file store is the
 * embedded default; other engines implement the same contract and pass the
 * same tests.
 */
export interface SharedStore extends Disposable {
  readonly participantId: string;
  get(namespace: string, key: string): Promise<StoredValue | undefined>;
  set(namespace: string, key: string, value: unknown, by: Actor, options?: SetOptions): Promise<StoredValue>;
  /** Read-modify-write that never fails on contention, so callers need no retry loop; `fn` may run more than once (keep it pure). */
  update(namespace: string, key: string, fn: (current: StoredValue | undefined) => unknown, by: Actor): Promise<StoredValue>;
  /** Adds `delta` (a whole number) to a counter, absent counting as 0, in one atomic step on every backend: no retry loop, no conflict. */
  increment(namespace: string, key: string, delta: number, by: Actor): Promise<StoredValue>;
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
  /**
   * Claims, inbox, control and presence events always arrive. A `change` of a
   * context namespace is promised only while this process watches it
   * (watchChanges): the file store does not read others' writes to a
   * namespace nobody here watches until it is read, since each write read
   * costs every process CPU (issue 11). Others may deliver every change.
   */
  onEvent(listener: (event: StoreEvent) => void): Disposable;
  /** Change events of `namespace` (of all, when omitted) wanted here, promptly, until disposed. */
  watchChanges(namespace?: string): Disposable;
}
