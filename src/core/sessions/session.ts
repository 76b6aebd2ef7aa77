import type { AgentIdentity } from '../agents/agentIdentity.js';
import { checkTransition, type SessionState } from './sessionState.js';

export type TransportKind = 'stdio' | 'http' | 'relay' | 'none';

export interface ClientInfo {
  readonly name: string;
  readonly version: string;
}

export interface SessionSpec {
  /** Asked-for root; the workspace's default root when absent. */
  readonly root?: string;
  readonly client?: ClientInfo;
  readonly transport: TransportKind;
  readonly parentId?: string;
  readonly tags?: readonly string[];
  /** The agent this session serves, when it said (R-AGT-2). */
  readonly agent?: AgentIdentity;
}

/** A root the agent declared (MCP roots) that was refused, and why. */
export interface RefusedRoot {
  readonly uri: string;
  readonly reason: string;
}

export const UNKNOWN_CLIENT: ClientInfo = Object.freeze({ name: 'unknown', version: '0' });

/** The view of a session that leaves the process: tools, the panel, `status --json`. */
export interface SessionInfo {
  readonly id: string;
  readonly state: SessionState;
  readonly root: string;
  readonly declaredRoots: readonly string[];
  readonly refusedRoots: readonly RefusedRoot[];
  readonly client: ClientInfo;
  readonly agent: AgentIdentity | undefined;
  readonly transport: TransportKind;
  readonly parentId: string | undefined;
  readonly childIds: readonly string[];
  readonly tags: readonly string[];
  readonly createdAt: number;
  readonly lastActivityAt: number;
  readonly durationMs: number;
  readonly requestCount: number;
  readonly pendingCount: number;
  readonly attached: boolean;
}

type Listener = (session: Session) => void;

/**
 * One agent session. Owns its state, metadata and tags; the registry owns
 * its membership and the coordinator decides when it closes.
 */
export class Session {
  private stateValue: SessionState = { kind: 'initializing' };
  private readonly tagSet = new Set<string>();
  private readonly closeListeners = new Set<Listener>();
  readonly childIds = new Set<string>();
  /** Resource URIs this session's agent subscribed to: they follow the session through a resume. */
  readonly subscriptions = new Set<string>();
  client: ClientInfo;
  readonly agent: AgentIdentity | undefined;
  transport: TransportKind;
  lastActivityAt: number;
  requestCount = 0;
  /** Connections currently speaking for this session (a resumed session may gain a new one). */
  attachedConnections = 0;
  private rootValue: string;
  private declared: readonly string[] = [];
  private refused: readonly RefusedRoot[] = [];

  constructor(
    readonly id: string,
    readonly resumeHandle: string,
    root: string,
    spec: SessionSpec,
    readonly createdAt: number,
  ) {
    this.rootValue = root;
    this.client = spec.client ?? UNKNOWN_CLIENT;
    this.agent = spec.agent;
    this.transport = spec.transport;
    this.lastActivityAt = createdAt;
    for (const tag of spec.tags ?? []) this.tagSet.add(tag);
    if (spec.parentId !== undefined) this.tagSet.add('sub-agent');
    this.parentId = spec.parentId;
  }

  readonly parentId: string | undefined;

  get root(): string {
    return this.rootValue;
  }

  get refusedRoots(): readonly RefusedRoot[] {
    return this.refused;
  }

  /** Binds the session to the roots its agent declared; the first accepted one becomes its root (R-ROOT-4). */
  bindDeclaredRoots(accepted: readonly string[], refused: readonly RefusedRoot[]): void {
    this.declared = accepted;
    this.refused = refused;
    if (accepted[0] !== undefined) this.rootValue = accepted[0];
  }

  get state(): SessionState {
    return this.stateValue;
  }

  get tags(): readonly string[] {
    return [...this.tagSet].sort();
  }

  addTag(tag: string): void {
    this.tagSet.add(tag);
  }

  transition(to: SessionState): void {
    checkTransition(this.id, this.stateValue, to);
    this.stateValue = to;
    if (to.kind === 'closed' || to.kind === 'failed') {
      for (const listener of [...this.closeListeners]) listener(this);
      this.closeListeners.clear();
    }
  }

  /** Called once when the session reaches `closed` or `failed`. */
  onDidEnd(listener: Listener): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  touch(now: number): void {
    this.lastActivityAt = now;
    this.requestCount++;
  }

  info(now: number, pendingCount: number): SessionInfo {
    return {
      id: this.id,
      state: this.stateValue,
      root: this.rootValue,
      declaredRoots: this.declared,
      refusedRoots: this.refused,
      client: this.client,
      agent: this.agent,
      transport: this.transport,
      parentId: this.parentId,
      childIds: [...this.childIds],
      tags: this.tags,
      createdAt: this.createdAt,
      lastActivityAt: this.lastActivityAt,
      durationMs: now - this.createdAt,
      requestCount: this.requestCount,
      pendingCount,
      attached: this.attachedConnections > 0,
    };
  }
}
