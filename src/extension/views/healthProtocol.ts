/**
 * The Session Health panel's message protocol, shared by the host and the
 * webview as types only (the webview has its own DOM tsconfig).
 */

export interface PanelSession {
  readonly id: string;
  readonly clientName: string;
  readonly clientVersion: string;
  /** The agent it serves, for people: "claude-code session 5283ce7e…". */
  readonly agent?: string;
  readonly transport: string;
  readonly root: string;
  readonly state: string;
  readonly createdAt: number;
  readonly lastActivityAt: number;
  readonly requestCount: number;
  readonly pendingCount: number;
  readonly tags: readonly string[];
  /** The participant (window or headless process) that owns it. */
  readonly participant: string;
  readonly local: boolean;
}

export interface PanelParticipant {
  readonly id: string;
  readonly label: string;
  /** The git worktree and branch its sessions work in. */
  readonly worktree?: string;
  readonly kind: string;
  readonly pid: number;
  readonly heartbeatAgeMs: number;
  readonly sessionCount: number;
  readonly self: boolean;
}

export interface PanelClaim {
  readonly resource: string;
  /** The root of the project it was made in, when that is another workspace folder's (its path starts there). */
  readonly project?: string;
  /** That folder's name, for people. */
  readonly projectName?: string;
  /** The git worktree (path) it was made in, and how people name it: "feature (branch feature)". */
  readonly checkout?: string;
  readonly worktree?: string;
  /** Made in another worktree than this window's. */
  readonly otherWorktree?: boolean;
  readonly holderSessionId: string;
  readonly holderClient: string;
  readonly holderAgent?: string;
  /** Taken by the edit guard before an edit, not asked for by the agent. */
  readonly automatic: boolean;
  readonly fencingToken: number;
  readonly expiresAt: number;
}

export interface PanelBlockedEdit {
  readonly at: number;
  readonly agent: string;
  readonly resource: string;
  readonly holder: string;
}

/** One message, as the panel shows it: every field is text, never markup. */
export interface PanelMessage {
  readonly id: string;
  readonly at: number;
  readonly from: string;
  readonly subject: string;
  readonly body: string;
  readonly state: 'unread' | 'delivered' | 'read';
}

/** The recent messages of one inbox: an agent's, a session's, or the people's. */
export interface PanelThread {
  /** What message_send's `to` takes: the panel sends with it. */
  readonly inbox: string;
  readonly who: string;
  readonly unread: number;
  readonly recent: readonly PanelMessage[];
}

export interface PanelProblem {
  readonly severity: 'error' | 'warning';
  readonly message: string;
  /** What a person can do about it. */
  readonly action?: string;
  readonly command?: string;
}

export interface SeriesPoint {
  readonly t: number;
  readonly sessions: number;
  readonly callsPerSecond: number;
  readonly lockWaitP99: number;
  readonly propagationP99: number;
}

export interface PanelState {
  readonly status: 'starting' | 'ok' | 'degraded' | 'error' | 'restricted';
  readonly statusText: string;
  readonly url?: string;
  readonly sessions: readonly PanelSession[];
  readonly participants: readonly PanelParticipant[];
  readonly claims: readonly PanelClaim[];
  /** Edits the edit guard stopped here: the count, and the last few. */
  readonly guard: { readonly blocked: number; readonly recent: readonly PanelBlockedEdit[] };
  /** Inboxes of the live agents and of the people (R-AGT-6). */
  readonly messages: readonly PanelThread[];
  /** Files agents in more than one worktree are changing; `here`: this window's worktree is one of them. */
  readonly acrossWorktrees: ReadonlyArray<{
    readonly resource: string;
    readonly here: boolean;
    readonly worktrees: ReadonlyArray<{ readonly worktree: string; readonly holder: string }>;
  }>;
  readonly store: {
    readonly kind: string;
    readonly location: string;
    readonly degraded: boolean;
    readonly reason?: string;
    readonly eventLogBytes: number;
    readonly namespaces: readonly { name: string; keys: number; lastSeq: number; unreadable?: string }[];
    readonly corruptionRecoveries: number;
  };
  readonly series: readonly SeriesPoint[];
  readonly problems: readonly PanelProblem[];
  readonly generatedAt: number;
}

/** Host -> webview: a whole state (the webview redraws the sections that differ), or one more trend point and how many to keep. */
export type HostMessage = { type: 'state'; state: PanelState } | { type: 'point'; point: SeriesPoint; keep: number };

/** Webview -> host. The webview sends `ready` first; nothing is posted to it before. */
export type WebviewMessage =
  | { type: 'ready' }
  | { type: 'endSession'; sessionId: string }
  | { type: 'releaseClaim'; resource: string; fencingToken: number; checkout?: string; project?: string }
  | { type: 'openHistory'; sessionId: string }
  /** A person writes to an inbox, or to `all`: the host asks for the text. */
  | { type: 'sendMessage'; to: string }
  | { type: 'runCommand'; command: PanelCommand };

const PANEL_COMMANDS = ['setupAgent', 'copyClientConfig', 'showLog', 'restart', 'exportDiagnostics'] as const;
export type PanelCommand = (typeof PANEL_COMMANDS)[number];

export function isWebviewMessage(value: unknown): value is WebviewMessage {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as Record<string, unknown>;
  switch (m.type) {
    case 'ready':
      return true;
    case 'endSession':
    case 'openHistory':
      return typeof m.sessionId === 'string';
    case 'sendMessage':
      return typeof m.to === 'string' && m.to.length > 0 && m.to.length <= 256;
    case 'releaseClaim':
      return (
        typeof m.resource === 'string' &&
        typeof m.fencingToken === 'number' &&
        (m.checkout === undefined || typeof m.checkout === 'string') &&
        (m.project === undefined || typeof m.project === 'string')
      );
    case 'runCommand':
      return (PANEL_COMMANDS as readonly unknown[]).includes(m.command);
    default:
      return false;
  }
}
