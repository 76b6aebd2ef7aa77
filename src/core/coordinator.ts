import { withDefaults, type CoordinatorOptions, type OptionsOverride } from './config.js';
import { CoordinatorError } from './errors.js';
import type { Logger } from './logging/logger.js';
import { Metrics, type MetricValue } from './metrics/metrics.js';
import { PendingRequests } from './requests/pendingRequests.js';
import { RootResolver } from './roots/rootResolver.js';
import { defaultExecutionContext, type ExecutionContext } from './sessions/executionContext.js';
import type { Session, SessionInfo, SessionSpec } from './sessions/session.js';
import { SessionRegistry, type SessionHooks } from './sessions/sessionRegistry.js';

export interface CoordinatorDeps {
  logger: Logger;
  /** Workspace folders plus explicitly allowed paths. */
  allowedRoots: readonly string[];
  options?: OptionsOverride;
  /** Extra creation steps (tests use this to prove all-or-nothing creation). */
  onSessionCreate?: SessionHooks['onCreate'];
}

export type Health = { status: 'ok' } | { status: 'error'; problems: string[] };

/** One snapshot of everything observable (R-OBS-2): the panel, `status --json` and diagnostics read this. */
export interface CoordinatorSnapshot {
  takenAt: string;
  pid: number;
  health: Health;
  allowedRoots: readonly string[];
  sessions: SessionInfo[];
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

  constructor(readonly deps: CoordinatorDeps) {
    this.options = withDefaults(deps.options);
    this.roots = new RootResolver(this.metrics, this.options.roots, deps.allowedRoots);
    this.requests = new PendingRequests(this.metrics, deps.logger, this.options.requests);
    this.sessions = new SessionRegistry(this.roots, this.metrics, deps.logger, this.options.sessions, {
      onCreate: deps.onSessionCreate,
      onEnd: (session) => this.requests.dropSession(session.id),
      pendingCount: (id) => this.requests.countFor(id),
    });
  }

  get logger(): Logger {
    return this.deps.logger;
  }

  /** Checks that a workspace root exists; says so loudly when none does (R-ROOT-3). */
  async start(): Promise<Health> {
    try {
      await this.roots.defaultRoot();
      this.problems = [];
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      this.problems = [message];
      this.metrics.counter('roots.noWorkspace').inc();
      this.logger.error(message);
    }
    return this.health();
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
    if (!session || session.state.kind !== 'active') {
      throw new CoordinatorError('ResumeHandleInvalid', 'That resume handle names no live session: it may have expired (TTL) or been closed', {});
    }
    return session;
  }

  async contextFor(sessionId: string | undefined): Promise<ExecutionContext> {
    const session = sessionId === undefined ? undefined : this.sessions.get(sessionId);
    if (!session) {
      const root = await this.roots.defaultRoot().catch(() => this.roots.allowedRoots[0] ?? process.cwd());
      return defaultExecutionContext(root);
    }
    return { sessionId: session.id, root: session.root, client: session.client, transport: session.transport, isDefault: false };
  }

  snapshot(): CoordinatorSnapshot {
    return {
      takenAt: new Date().toISOString(),
      pid: process.pid,
      health: this.health(),
      allowedRoots: this.roots.allowedRoots,
      sessions: this.sessions.infos(),
      metrics: this.metrics.snapshot(),
    };
  }

  dispose(): void {
    this.sessions.dispose();
    this.requests.dispose();
  }
}
