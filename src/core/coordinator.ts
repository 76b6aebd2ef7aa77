import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { agentKey } from './agents/agentIdentity.js';
import { EditGuard, type BlockedEdit, type GuardDecision, type GuardRequest } from './guard/editGuard.js';
import { withDefaults, type CoordinatorOptions, type OptionsOverride } from './config.js';
import { CoordinatorError, errorMessage } from './errors.js';
import { DisposableStore, type Disposable } from './lifecycle/disposable.js';
import { Emitter } from './lifecycle/emitter.js';
import type { Logger } from './logging/logger.js';
import { Mailbox } from './messages/mailbox.js';
import { describeWorktree, findGitLayout, type GitLayout } from './repository/gitLayout.js';
import { watchWorktrees } from './repository/worktreeWatch.js';
import { Metrics, type MetricValue } from './metrics/metrics.js';
import { isInside, OtherProjects, type ProjectScope } from './projects/projectScopes.js';
import { PendingRequests } from './requests/pendingRequests.js';
import { RootResolver } from './roots/rootResolver.js';
import { defaultExecutionContext, type ExecutionContext } from './sessions/executionContext.js';
import type { Session, SessionInfo, SessionSpec } from './sessions/session.js';
import { SessionRegistry, type SessionHooks } from './sessions/sessionRegistry.js';
import { isLive } from './sessions/sessionState.js';
import { MemoryStore } from './store/memoryStore.js';
import { worktreeOverlaps, type WorktreeOverlap } from './store/rules/claims.js';
import type { Actor, Claim, ParticipantInfo } from './store/actors.js';
import type { SharedStore, StoreEvent, StoreStatus } from './store/sharedStore.js';

/** Opens the shared store of a project root; a throw puts the coordinator in local-only mode. */
export type StoreOpener = (projectRoot: string, metrics: Metrics) => Promise<SharedStore>;

export interface CoordinatorDeps {
  logger: Logger;
  /** Workspace folders plus explicitly allowed paths. */
  allowedRoots: readonly string[];
  options?: OptionsOverride;
  /** Extra creation steps (tests use this to prove all-or-nothing creation). */
  onSessionCreate?: SessionHooks['onCreate'];
  /** The shared store; absent, or when it fails to open, the coordinator is local-only (R-CTX-8). */
  openStore?: StoreOpener;
  /**
   * The store of another folder's project (files in that folder): sessions
   * rooted there claim in it (R-SEC-7). Absent (a store keyed by a project id):
   * claims outside the first folder's project are refused.
   */
  openOtherStore?: StoreOpener;
  /** Set by the host when the store must not be used (an untrusted workspace): the reason is shown. */
  localOnlyReason?: string;
  label?: string;
}

const OBSERVED_COUNTERS = [
  'sessions.total',
  'sessions.evicted',
  'sessions.rejected',
  'sessions.expired',
  'sessions.creationFailures',
  'requests.rejected',
  'requests.timeouts',
  'requests.correlationLost',
  'roots.cacheHits',
  'roots.cacheMisses',
  'roots.doubleLoads',
  'store.lock.acquisitions',
  'store.lock.contended',
  'store.contextWrites',
  'store.corruptionDetected',
  'store.recoveries',
];
const OBSERVED_HISTOGRAMS = ['store.lock.waitMs', 'store.propagationMs', 'requests.latencyMs'];

export type Health = { status: 'ok' } | { status: 'error'; problems: string[] };

/** A claim, and the project it was made in when that is another folder's (its paths start at that root). */
export type ProjectClaim = Claim & { readonly projectRoot?: string };

/** One snapshot of everything observable (R-OBS-2): the panel, `status --json` and diagnostics read this. */
export interface CoordinatorSnapshot {
  takenAt: string;
  pid: number;
  health: Health;
  allowedRoots: readonly string[];
  sessions: SessionInfo[];
  store: StoreStatus;
  participants: ParticipantInfo[];
  /** The edit guard's last blocked edits here, newest first. */
  blockedEdits: readonly BlockedEdit[];
  /** Files agents in more than one worktree of the repository are changing (claims.acrossWorktrees "warn"). */
  acrossWorktrees: readonly WorktreeOverlap[];
  /** The live claims of this participant's project (R-CLM), whoever holds them. */
  claims: readonly Claim[];
  metrics: Record<string, MetricValue>;
}

/**
 * The coordinator of one run: sessions, their roots and their in-flight
 * requests, with metrics. Knows nothing of transports or of VS Code.
 */
export class Coordinator {
  readonly metrics = new Metrics();
  readonly options: CoordinatorOptions;
  readonly roots: RootResolver;
  readonly requests: PendingRequests;
  readonly sessions: SessionRegistry;
  private problems: string[] = [];
  private storeValue: SharedStore | undefined;
  private guardValue: EditGuard | undefined;
  /** Guards of the other folders' projects, by root. */
  private readonly otherGuards = new Map<string, EditGuard>();
  private readonly others: OtherProjects | undefined;
  /** The other projects' store subscriptions. */
  private readonly otherEvents = new DisposableStore();
  /** The real path of projectRoot: sessions' roots are real paths. */
  private primaryReal: string | undefined;
  private mailboxValue: Mailbox | undefined;
  private layout: GitLayout | undefined;
  private worktreeWatch: Disposable | undefined;
  private presenceTimer: NodeJS.Timeout | undefined;
  private disposed = false;
  /** Store work started by session ends: awaited before the store closes. */
  private readonly background = new Set<Promise<unknown>>();
  private readonly changed = new Emitter<void>();
  private storeEvents: Disposable | undefined;
  /** Something a person would see changed: a session, the store, a claim, a participant. */
  readonly onDidChange = this.changed.event;

  constructor(readonly deps: CoordinatorDeps) {
    // Every R-OBS-1 figure is in the snapshot from the start, at zero, not only once it first moves.
    for (const name of OBSERVED_COUNTERS) this.metrics.counter(name);
    for (const name of OBSERVED_HISTOGRAMS) this.metrics.histogram(name);
    this.options = withDefaults(deps.options);
    this.roots = new RootResolver(this.metrics, this.options.roots, deps.allowedRoots);
    this.requests = new PendingRequests(this.metrics, deps.logger, this.options.requests);
    this.sessions = new SessionRegistry(this.roots, this.metrics, deps.logger, this.options.sessions, {
      onCreate: async (session) => {
        await deps.onSessionCreate?.(session);
        this.publishPresence();
        this.changed.fire();
      },
      claimHolders: async () => new Set((await this.storeValue?.listClaims())?.map((c) => c.holder.sessionId)),
      onEnd: (session) => {
        this.requests.dropSession(session.id);
        this.releaseClaimsOfEnded(session);
        this.publishPresence();
        this.changed.fire();
      },
      onChange: () => {
        this.publishPresence();
        this.changed.fire();
      },
      pendingCount: (id) => this.requests.countFor(id),
    });
    const openOther = deps.openOtherStore;
    this.others = openOther
      ? new OtherProjects({
          allowedRoots: () => this.roots.allowedRoots,
          open: openOther,
          logger: deps.logger,
          onOpened: (scope) => {
            this.otherEvents.add(scope.store.onEvent((event) => this.onStoreEvent(event)));
            this.publishPresence();
            this.changed.fire();
          },
        })
      : undefined;
  }

  get logger(): Logger {
    return this.deps.logger;
  }

  /** The shared store, or the local-only one when it could not be opened. */
  get store(): SharedStore {
    if (!this.storeValue) throw new CoordinatorError('StoreUnavailable', 'The coordinator has not started yet', {});
    return this.storeValue;
  }

  /**
   * What claim paths are relative to: the top of the git checkout (main or a
   * worktree) holding the first workspace folder, so that every window and
   * worktree of a repository names a file the same way; else that folder.
   */
  get projectRoot(): string {
    return this.layout?.worktree ?? this.roots.allowedRoots[0] ?? process.cwd();
  }

  /** Where the first workspace folder sits in git (checkout, branch), when it is in a repository. */
  get git(): GitLayout | undefined {
    return this.layout;
  }

  /** The first workspace folder's project: the coordinator's own store. */
  get primaryScope(): ProjectScope {
    return { root: this.projectRoot, layout: this.layout, store: this.store, primary: true };
  }

  /**
   * The project a session rooted at `dir` (a real path) works in: the
   * primary one, or another folder's with its own store (R-SEC-7).
   */
  async scopeOf(dir: string | undefined): Promise<ProjectScope> {
    const primary = this.primaryScope;
    if (dir === undefined || !this.others || this.inPrimary(dir)) return primary;
    return (await this.others.of(dir, primary)) ?? primary;
  }

  /** Whether a path is in the first folder's project, as spelled or by its real path. */
  private inPrimary(p: string): boolean {
    return isInside(this.projectRoot, p) || (this.primaryReal !== undefined && isInside(this.primaryReal, p));
  }

  /** Every project with a store open here: the primary one first. */
  get scopes(): readonly ProjectScope[] {
    return [this.primaryScope, ...(this.others?.list() ?? [])];
  }

  /** The live claims of every project open here; another folder's carry its root. */
  async claimsEverywhere(): Promise<ProjectClaim[]> {
    const [primary, ...others] = await Promise.all(this.scopes.map((s) => s.store.listClaims().catch(() => [] as Claim[])));
    const rest = (this.others?.list() ?? []).flatMap((scope, i) => others[i]!.map((c) => ({ ...c, projectRoot: scope.root })));
    return [...primary!, ...rest];
  }

  /**
   * One edit-guard decision (R-AGT-4), each path judged in its own project:
   * an edit denied in any is denied; messages come with the primary's.
   */
  async decideEdit(request: GuardRequest): Promise<GuardDecision> {
    if (request.event === 'tool' || !this.others) return this.guard.decide(request);
    if (request.event === 'end') {
      const [primary] = await Promise.all([this.guard.decide(request), ...this.others.list().map((s) => this.guardIn(s).decide(request))]);
      return primary!;
    }
    const groups = new Map<EditGuard, string[]>([[this.guard, []]]);
    for (const p of request.paths) {
      const file = path.resolve(p);
      const scope = this.inPrimary(file)
        ? this.primaryScope
        : await this.scopeOf(await fs.realpath(path.dirname(file)).catch(() => path.dirname(file)));
      const guard = this.guardIn(scope);
      groups.set(guard, [...(groups.get(guard) ?? []), p]);
    }
    const allowed: GuardDecision[] = [];
    for (const [guard, paths] of groups) {
      if (guard !== this.guard && paths.length === 0) continue;
      const decision = await guard.decide({ ...request, paths });
      if (decision.decision === 'deny') return decision;
      allowed.push(decision);
    }
    if (allowed.length === 1) return allowed[0]!;
    const texts = (pick: (d: GuardDecision) => string | undefined): string | undefined =>
      allowed
        .map(pick)
        .filter((t) => t !== undefined)
        .join('\n\n') || undefined;
    const notice = texts((d) => (d.decision === 'allow' ? d.notice : undefined));
    const context = texts((d) => d.context);
    return {
      decision: 'allow',
      reason: allowed.map((d) => d.reason).join('; '),
      claimed: allowed.flatMap((d) => (d.decision === 'allow' ? d.claimed : [])),
      ...(notice ? { notice } : {}),
      ...(context ? { context } : {}),
    };
  }

  /** The edit guard of a project: the primary one's, or one per other folder (no messages there: the primary's hands them out). */
  private guardIn(scope: ProjectScope): EditGuard {
    if (scope.primary) return this.guard;
    let guard = this.otherGuards.get(scope.root);
    if (!guard) {
      guard = this.newGuard(() => scope);
      this.otherGuards.set(scope.root, guard);
    }
    return guard;
  }

  /** The edit guard's rules over this coordinator's store (R-AGT-4). */
  get guard(): EditGuard {
    this.guardValue ??= this.newGuard(() => this.primaryScope, this.messages);
    return this.guardValue;
  }

  /** `scope` is read on each decision: the primary project's root changes with the window's folders. */
  private newGuard(scope: () => ProjectScope, mailbox?: Mailbox): EditGuard {
    return new EditGuard({
      store: scope().store,
      projectRoot: () => scope().root,
      metrics: this.metrics,
      pathTimeoutMs: this.options.roots.timeoutMs,
      ...(mailbox ? { mailbox } : {}),
      worktree: () => scope().layout,
      acrossWorktrees: () => this.options.claims.acrossWorktrees,
      onBlocked: () => this.changed.fire(),
      sessionOf: (agent) => {
        const key = agentKey(agent);
        const session = this.sessions.list().find((s) => s.agent && agentKey(s.agent) === key && isLive(s.state));
        return session ? this.actorIn(session, scope()) : undefined;
      },
    });
  }

  /** Messages between the project's agents and people (R-AGT-6). */
  get messages(): Mailbox {
    this.mailboxValue ??= new Mailbox({
      store: () => this.store,
      metrics: this.metrics,
      localActors: () =>
        this.sessions
          .list()
          .filter((s) => isLive(s.state))
          .map((s) => this.actorFor(s)),
    });
    return this.mailboxValue;
  }

  actorFor(session: Session): Actor {
    return this.actorIn(session, this.primaryScope);
  }

  /** A session as it acts in a project: the participant as that project's store knows it, the project's checkout. */
  actorIn(session: Session, scope: ProjectScope): Actor {
    return {
      sessionId: session.id,
      clientName: session.client.name,
      participantId: scope.store.participantId,
      ...(session.agent ? { agent: session.agent } : {}),
      ...(scope.layout ? { worktree: describeWorktree(scope.layout), checkout: scope.layout.worktree } : {}),
    };
  }

  /** Checks that a workspace root exists, opens the store; says so loudly when either fails (R-ROOT-3, R-CTX-8). */
  async start(): Promise<Health> {
    let root: string | undefined;
    try {
      root = await this.roots.defaultRoot();
      this.layout = await findGitLayout(root);
      this.primaryReal = await fs.realpath(this.projectRoot).catch(() => undefined);
      if (this.layout && !this.worktreeWatch) {
        this.worktreeWatch = watchWorktrees(this.layout, () =>
          this.track(this.sweepRemovedWorktrees().catch((e) => this.logger.debug(`Checking worktrees: ${errorMessage(e)}`))),
        );
      }
      this.problems = [];
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      this.problems = [message];
      this.metrics.counter('roots.noWorkspace').inc();
      this.logger.error(message);
    }
    if (!this.storeValue) await this.openStore(root);
    return this.health();
  }

  private async openStore(root: string | undefined): Promise<void> {
    const label = this.deps.label ?? 'session-coordinator';
    let reason = this.deps.localOnlyReason;
    if (!reason && !root) reason = 'no workspace folder to keep shared state in';
    if (!reason && !this.deps.openStore) reason = 'no shared store configured';
    if (!reason && root && this.deps.openStore) {
      try {
        this.storeValue = await this.deps.openStore(root, this.metrics);
      } catch (e) {
        reason = `the shared store cannot be used: ${errorMessage(e)}`;
      }
    }
    if (!this.storeValue) {
      this.storeValue = new MemoryStore(reason ?? 'local only', label);
      this.metrics.counter('store.degraded').inc();
      this.logger.warn(`Local-only mode: ${reason}. Sessions keep working; nothing is shared with other windows or agents.`);
    }
    this.metrics.gauge('store.localOnly', () => (this.storeValue instanceof MemoryStore ? 1 : 0));
    this.storeEvents = this.storeValue.onEvent((event) => this.onStoreEvent(event));
    this.publishPresence();
  }

  private onStoreEvent(event: StoreEvent): void {
    if (event.kind === 'control' && event.request.action === 'endSession' && this.sessions.get(event.request.sessionId)) {
      this.sessions.close(event.request.sessionId, `ended by ${event.request.requestedBy}`);
    }
    this.changed.fire();
  }

  /**
   * Claims go with the session that held them (R-CLM-3), without waiting for
   * their TTL; an agent's claims (its edit-guard claims too) go when its last
   * session here ends, since two connections of one agent are one agent (R-AGT-2).
   */
  private releaseClaimsOfEnded(session: Session): void {
    const agent = session.agent;
    if (agent && this.sessions.list().some((s) => s !== session && s.agent && agentKey(s.agent) === agentKey(agent))) return;
    const filter = agent ? { sessionId: session.id, agentKey: agentKey(agent) } : { sessionId: session.id };
    const stores = [this.storeValue, ...(this.others?.list() ?? []).map((s) => s.store)];
    for (const store of stores)
      this.track(
        store?.releaseClaimsOf(filter).catch((e) => this.logger.warn(`Releasing the claims of ${session.id}: ${errorMessage(e)}`)),
      );
  }

  /**
   * A worktree removed (`git worktree remove`, a worktree manager cleaning up)
   * while agents work in it: its sessions here end, and any claim made in a
   * checkout that no longer exists is released, whoever made it (issue 17).
   */
  private async sweepRemovedWorktrees(): Promise<void> {
    if (!this.storeValue || this.disposed) return;
    const gone = async (dir: string): Promise<boolean> =>
      !(await fs.stat(dir).then(
        () => true,
        (e: NodeJS.ErrnoException) => e.code !== 'ENOENT',
      ));
    if (this.layout && (await gone(this.layout.worktree))) {
      for (const s of this.sessions.list()) this.sessions.close(s.id, `its worktree ${describeWorktree(this.layout)} was removed`);
    }
    const claims = await this.storeValue.listClaims();
    const checkouts = [...new Set(claims.flatMap((c) => (c.checkout ? [c.checkout] : [])))];
    const removed = new Set(
      (await Promise.all(checkouts.map(async (c) => ((await gone(c)) ? c : undefined)))).filter((c) => c !== undefined),
    );
    for (const c of claims.filter((x) => x.checkout && removed.has(x.checkout))) {
      await this.storeValue
        .revokeClaim(
          c.resource,
          c.fencingToken,
          { sessionId: 'coordinator', clientName: 'worktree removed', participantId: this.storeValue.participantId },
          c.checkout,
        )
        .catch(() => undefined);
      this.metrics.counter('claims.releasedWorktreeRemoved').inc();
    }
  }

  /** Ends a session wherever it lives: here at once, in another participant through the store. */
  async endSession(sessionId: string, requestedBy: string): Promise<void> {
    if (this.sessions.close(sessionId, `ended by ${requestedBy}`)) return;
    await this.store.sendControl({ action: 'endSession', sessionId, requestedBy });
  }

  /** Tells the other participants which sessions live here (soon, not on every change). */
  publishPresence(): void {
    if (this.presenceTimer || !this.storeValue || this.disposed) return;
    this.presenceTimer = setTimeout(() => {
      this.presenceTimer = undefined;
      const infos = this.sessions.infos();
      const presence = (layout: GitLayout | undefined, list: typeof infos) => {
        const worktree = layout ? { worktree: describeWorktree(layout) } : {};
        return list.map((s) => ({
          id: s.id,
          clientName: s.client.name,
          ...(s.agent ? { agent: s.agent } : {}),
          ...worktree,
          transport: s.transport,
          state: s.state.kind,
          root: s.root,
          tags: s.tags,
          requestCount: s.requestCount,
          lastActivityAt: s.lastActivityAt,
        }));
      };
      void this.storeValue
        ?.heartbeat(presence(this.layout, infos))
        .catch((e) => this.logger.debug(`Presence heartbeat: ${errorMessage(e)}`));
      // Another folder's project hears of the sessions working in it: its claims' holders must be seen live there.
      for (const scope of this.others?.list() ?? []) {
        void scope.store
          .heartbeat(
            presence(
              scope.layout,
              infos.filter((s) => isInside(scope.root, s.root)),
            ),
          )
          .catch((e) => this.logger.debug(`Presence heartbeat: ${errorMessage(e)}`));
      }
    }, 50);
    this.presenceTimer.unref();
  }

  health(): Health {
    return this.problems.length === 0 ? { status: 'ok' } : { status: 'error', problems: [...this.problems] };
  }

  async setAllowedRoots(roots: readonly string[]): Promise<Health> {
    this.roots.setAllowedRoots(roots);
    return this.start();
  }

  openSession(spec: SessionSpec, id?: string): Promise<Session> {
    return this.sessions.getOrCreate(spec, id);
  }

  /** The session behind a resume handle, if it is still live (R-SES-10). */
  resume(handle: string): Session {
    const session = this.sessions.byResumeHandle(handle);
    if (session?.state.kind === 'disconnected') this.sessions.reconnect(session.id);
    if (!session || session.state.kind !== 'active') {
      throw new CoordinatorError(
        'ResumeHandleInvalid',
        'That resume handle names no live session: it may have expired (TTL) or been closed',
        {},
      );
    }
    return session;
  }

  async contextFor(sessionId: string | undefined): Promise<ExecutionContext> {
    const session = sessionId === undefined ? undefined : this.sessions.get(sessionId);
    if (!session) {
      const root = await this.roots.defaultRoot().catch(() => this.projectRoot);
      return defaultExecutionContext(root);
    }
    return { sessionId: session.id, root: session.root, client: session.client, transport: session.transport, isDefault: false };
  }

  /**
   * `claims`: the live claims, when the caller has just read them (the panel): not read twice.
   * `storeStatus`: one the caller read before, for a view that does not show it (a fresh one reads every namespace).
   */
  snapshot(claims?: readonly Claim[], storeStatus?: StoreStatus): Promise<CoordinatorSnapshot> {
    return this.snapshotIn(this.storeValue, claims, storeStatus);
  }

  /**
   * The snapshot as seen from `dir` (`status --workspace`): its project's claims, participants and store, a
   * second workspace folder's own (R-SEC-7); the first folder's when `dir` is in no folder here.
   */
  async snapshotOf(dir: string): Promise<CoordinatorSnapshot> {
    const real = this.storeValue && this.others ? await this.roots.resolve(dir).catch(() => undefined) : undefined;
    const scope = real === undefined ? undefined : await this.scopeOf(real);
    return scope && !scope.primary ? this.snapshotIn(scope.store) : this.snapshot();
  }

  private async snapshotIn(
    store: SharedStore | undefined,
    claims?: readonly Claim[],
    storeStatus?: StoreStatus,
  ): Promise<CoordinatorSnapshot> {
    const live = claims ?? (store ? await store.listClaims().catch(() => []) : []);
    return {
      takenAt: new Date().toISOString(),
      pid: process.pid,
      health: this.health(),
      allowedRoots: this.roots.allowedRoots,
      sessions: this.sessions.infos(),
      store: store
        ? (storeStatus ?? (await store.status()))
        : { kind: 'memory', location: 'not started', degraded: true, namespaces: [], eventLogBytes: 0 },
      participants: store ? await store.participants() : [],
      blockedEdits: [...(this.guardValue?.recentBlocked ?? [])],
      acrossWorktrees: worktreeOverlaps(live),
      claims: live,
      metrics: this.metrics.snapshot(),
    };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.sessions.dispose();
    this.requests.dispose();
    this.disposed = true;
    clearTimeout(this.presenceTimer);
    void this.worktreeWatch?.dispose();
    await Promise.all(this.background);
    await this.storeEvents?.dispose();
    await this.otherEvents.dispose();
    this.changed.dispose();
    await this.others?.dispose();
    await this.storeValue?.dispose();
  }

  private track(work: Promise<unknown> | undefined): void {
    if (!work) return;
    this.background.add(work);
    void work.finally(() => this.background.delete(work));
  }
}
