import { randomBytes, randomUUID } from 'node:crypto';
import { KeyedMutex } from '../concurrency/keyedMutex.js';
import { CoordinatorError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { RootResolver } from '../roots/rootResolver.js';
import { Session, type SessionInfo, type SessionSpec } from './session.js';
import { isLive } from './sessionState.js';

export interface SessionLimits {
  maxSessions: number;
  /** A session with no activity for this long expires (R-SES-5). */
  ttlMs: number;
  /** Child sessions one session may have (R-SEC-2): sub-agents of one agent cannot fill the coordinator. */
  maxChildrenPerParent: number;
  sweepIntervalMs: number;
  longRunningMs: number;
  highVolumeRequests: number;
  /** A session whose client's stream dropped is ended after this long unless it comes back (R-AGT-1). */
  disconnectGraceMs: number;
}

/** Steps that allocate or free per-session resources elsewhere; a throw in onCreate undoes the creation. */
export interface SessionHooks {
  onCreate?(session: Session): Promise<void> | void;
  onEnd?(session: Session): void;
  /** Something a person would see changed without the session starting or ending. */
  onChange?(session: Session): void;
  pendingCount(sessionId: string): number;
  /** Sessions that hold claims: never evicted to make room for another (R-SEC-2). Rejects when it cannot tell. */
  claimHolders?(): Promise<ReadonlySet<string>>;
}

/**
 * Every live session, keyed by the coordinator's own id. Creation is
 * get-or-create under a per-id lock that covers only the map updates; the
 * root is validated before the lock is taken (R-SES-1, R-SES-3).
 */
export class SessionRegistry {
  private readonly sessions = new Map<string, Session>();
  private readonly byHandle = new Map<string, Session>();
  private readonly locks: KeyedMutex;
  private readonly sweeper: NodeJS.Timeout;
  /** Sessions in `disconnected`, each with the timer that ends it when the grace runs out. */
  private readonly graceTimers = new Map<string, NodeJS.Timeout>();
  private disposed = false;

  constructor(
    private readonly roots: RootResolver,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly limits: SessionLimits,
    private readonly hooks: SessionHooks,
  ) {
    this.locks = new KeyedMutex(metrics, 'sessions.lock');
    metrics.gauge('sessions.active', () => this.sessions.size);
    this.sweeper = setInterval(() => this.sweep(), limits.sweepIntervalMs);
    this.sweeper.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Locks currently held or awaited: returns to zero when nothing is being created. */
  get lockCount(): number {
    return this.locks.size;
  }

  get(id: string): Session | undefined {
    return this.sessions.get(id);
  }

  byResumeHandle(handle: string): Session | undefined {
    return this.byHandle.get(handle);
  }

  list(): Session[] {
    return [...this.sessions.values()];
  }

  infos(now = Date.now()): SessionInfo[] {
    return this.list().map((s) => s.info(now, this.hooks.pendingCount(s.id)));
  }

  /** Creates a session, or returns the live one with that id. All callers for one id get one object. */
  async getOrCreate(spec: SessionSpec, id: string = randomUUID()): Promise<Session> {
    const existing = this.sessions.get(id);
    if (existing) return existing;
    if (this.disposed) throw new CoordinatorError('SessionClosed', 'The coordinator is shutting down; no new sessions are accepted');
    // Slow work first, outside any lock (R-SES-3).
    const parent = spec.parentId === undefined ? undefined : this.requireLiveParent(spec.parentId);
    let root: string;
    try {
      root = parent ? parent.root : spec.root !== undefined ? await this.roots.resolve(spec.root) : await this.roots.defaultRoot();
    } catch (e) {
      this.metrics.counter('sessions.creationFailures').inc();
      throw e;
    }
    // Who holds claims is a store read: asked before the lock, and only when room may be needed.
    const keep = this.sessions.size >= this.limits.maxSessions ? await this.claimHolders() : new Set<string>();
    return this.locks.run(id, async () => {
      const raced = this.sessions.get(id);
      if (raced) return raced;
      if (parent && parent.childIds.size >= this.limits.maxChildrenPerParent) {
        this.metrics.counter('sessions.rejected').inc();
        throw new CoordinatorError(
          'SessionLimitReached',
          `Session ${parent.id} already has ${parent.childIds.size} child sessions, the most one session may have; close one of them first`,
          { limit: this.limits.maxChildrenPerParent, parentId: parent.id },
        );
      }
      this.makeRoom(keep);
      const tags = [...(parent?.tags.filter((t) => t !== 'sub-agent') ?? []), ...(spec.tags ?? [])];
      const session = new Session(id, randomBytes(24).toString('base64url'), root, { ...spec, tags }, Date.now());
      this.sessions.set(id, session);
      this.byHandle.set(session.resumeHandle, session);
      parent?.childIds.add(id);
      try {
        await this.hooks.onCreate?.(session);
        session.transition({ kind: 'active' });
      } catch (e) {
        // All or nothing (R-SES-6): undo every registration made above.
        this.sessions.delete(id);
        this.byHandle.delete(session.resumeHandle);
        parent?.childIds.delete(id);
        if (session.state.kind === 'initializing') session.transition({ kind: 'failed', reason: String(e) });
        this.hooks.onEnd?.(session);
        this.metrics.counter('sessions.creationFailures').inc();
        throw e;
      }
      this.metrics.counter('sessions.total').inc();
      this.logger.info(`Session ${id} opened for ${session.client.name} over ${session.transport} at ${root}`);
      return session;
    });
  }

  /** Ends a session and its children; a no-op for one already ended. */
  close(id: string, reason: string): boolean {
    const session = this.sessions.get(id);
    if (!session || !isLive(session.state)) return false;
    session.transition({ kind: 'closing', reason });
    for (const childId of [...session.childIds]) this.close(childId, `parent ${id} closed`);
    this.remove(session);
    session.transition({ kind: 'closed', reason });
    this.logger.info(`Session ${id} closed: ${reason}`);
    return true;
  }

  /**
   * The client's connection dropped without a word: the session keeps its
   * claims for `graceMs` (default: the configured grace), then ends unless
   * `reconnect` was called. A grace of 0 ends it now.
   */
  disconnect(id: string, reason: string, graceMs = this.limits.disconnectGraceMs): boolean {
    const session = this.sessions.get(id);
    if (!session || session.state.kind !== 'active') return false;
    if (graceMs <= 0) return this.close(id, reason);
    session.transition({ kind: 'disconnected', reason, since: Date.now() });
    const timer = setTimeout(() => this.close(id, `${reason}; not back within ${graceMs} ms`), graceMs);
    timer.unref();
    this.graceTimers.set(id, timer);
    this.logger.info(`Session ${id} disconnected (${reason}); ending in ${graceMs} ms unless it comes back`);
    this.hooks.onChange?.(session);
    return true;
  }

  /** The client of a disconnected session came back (a new stream, a request, a resume). */
  reconnect(id: string): void {
    const session = this.sessions.get(id);
    if (!session || session.state.kind !== 'disconnected') return;
    this.clearGrace(id);
    session.transition({ kind: 'active' });
    this.logger.info(`Session ${id} reconnected`);
    this.hooks.onChange?.(session);
  }

  fail(id: string, reason: string): boolean {
    const session = this.sessions.get(id);
    if (!session || !isLive(session.state)) return false;
    for (const childId of [...session.childIds]) this.close(childId, `parent ${id} failed`);
    this.remove(session);
    session.transition({ kind: 'failed', reason });
    this.metrics.counter('sessions.failed').inc();
    this.logger.warn(`Session ${id} failed: ${reason}`);
    return true;
  }

  sweep(now = Date.now()): void {
    for (const session of this.list()) {
      if (session.state.kind !== 'active') continue;
      const pending = this.hooks.pendingCount(session.id);
      if (pending === 0 && now - session.lastActivityAt >= this.limits.ttlMs) {
        this.metrics.counter('sessions.expired').inc();
        this.close(session.id, `expired after ${this.limits.ttlMs} ms without activity`);
        continue;
      }
      if (now - session.createdAt >= this.limits.longRunningMs) session.addTag('long-running');
      if (session.requestCount >= this.limits.highVolumeRequests) session.addTag('high-volume');
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    clearInterval(this.sweeper);
    for (const session of this.list()) {
      if (session.parentId === undefined || !this.sessions.has(session.parentId)) this.close(session.id, 'coordinator stopped');
    }
  }

  private requireLiveParent(parentId: string): Session {
    const parent = this.sessions.get(parentId);
    if (!parent || parent.state.kind !== 'active') {
      throw new CoordinatorError('SessionNotFound', `Parent session ${parentId} is not live`, { sessionId: parentId });
    }
    return parent;
  }

  private clearGrace(id: string): void {
    clearTimeout(this.graceTimers.get(id));
    this.graceTimers.delete(id);
  }

  private remove(session: Session): void {
    this.clearGrace(session.id);
    this.sessions.delete(session.id);
    this.byHandle.delete(session.resumeHandle);
    if (session.parentId !== undefined) this.sessions.get(session.parentId)?.childIds.delete(session.id);
    this.hooks.onEnd?.(session);
  }

  /** Sessions that hold claims, or every session when the store cannot say (then nobody is evicted). */
  private async claimHolders(): Promise<ReadonlySet<string>> {
    try {
      return (await this.hooks.claimHolders?.()) ?? new Set();
    } catch {
      return new Set(this.sessions.keys());
    }
  }

  /**
   * At the limit, ends the least recently active session nobody would miss:
   * no connection attached (or its client gone), nothing pending, no claims.
   * A connected agent is never evicted for another, however quiet (R-SES-4, R-SEC-2).
   */
  private makeRoom(keep: ReadonlySet<string>): void {
    if (this.sessions.size < this.limits.maxSessions) return;
    let victim: Session | undefined;
    for (const s of this.sessions.values()) {
      const unattended = s.attachedConnections === 0 || s.state.kind === 'disconnected';
      const idle =
        (s.state.kind === 'active' || s.state.kind === 'disconnected') &&
        this.hooks.pendingCount(s.id) === 0 &&
        unattended &&
        !keep.has(s.id);
      if (idle && (!victim || s.lastActivityAt < victim.lastActivityAt)) victim = s;
    }
    if (!victim) {
      this.metrics.counter('sessions.rejected').inc();
      throw new CoordinatorError(
        'SessionLimitReached',
        `Session limit reached: ${this.sessions.size} of ${this.limits.maxSessions} sessions are live and each is connected, busy or holds claims; close one or raise sessionCoordinator.maxSessions`,
        { limit: this.limits.maxSessions, live: this.sessions.size },
      );
    }
    this.metrics.counter('sessions.evicted').inc();
    this.close(victim.id, 'evicted to make room (least recently active session with no connection, nothing pending and no claims)');
  }
}
