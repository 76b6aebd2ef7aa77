import * as vscode from 'vscode';
import type { OptionsOverride } from '../../core/config.js';
import { ACROSS_WORKTREES, type AcrossWorktrees } from '../../core/store/actors.js';
import {
  DEFAULT_MAX_NAMESPACE_BYTES,
  DEFAULT_MAX_NAMESPACES,
  DEFAULT_MAX_STORE_BYTES,
  type StoreQuotas,
} from '../../core/store/rules/limits.js';

export const SECTION = 'sessionCoordinator';

/** Every setting key, in one place; each says whether a change applies now or needs a coordinator restart. */
export const SETTINGS = {
  httpPort: { key: 'http.port', restart: true },
  maxSessions: { key: 'sessions.max', restart: true },
  ttlMinutes: { key: 'sessions.ttlMinutes', restart: true },
  disconnectGraceSeconds: { key: 'sessions.disconnectGraceSeconds', restart: true },
  requestTimeoutSeconds: { key: 'requests.timeoutSeconds', restart: true },
  maxPendingPerSession: { key: 'requests.maxPendingPerSession', restart: true },
  allowedPaths: { key: 'allowedPaths', restart: false },
  storeUrl: { key: 'store.url', restart: true },
  projectId: { key: 'store.projectId', restart: true },
  maxNamespaces: { key: 'store.maxNamespaces', restart: true },
  maxNamespaceMiB: { key: 'store.maxNamespaceMiB', restart: true },
  maxStoreMiB: { key: 'store.maxMiB', restart: true },
  statusBar: { key: 'statusBar.enabled', restart: false },
  claimBadges: { key: 'claims.showBadges', restart: false },
  warnBeforeSave: { key: 'claims.warnBeforeSave', restart: false },
  // Read by the hook process itself from .vscode/settings.json, on each edit it cannot check.
  guardStrict: { key: 'guard.strict', restart: false },
  acrossWorktrees: { key: 'claims.acrossWorktrees', restart: true },
} as const;

type Setting = (typeof SETTINGS)[keyof typeof SETTINGS];

export type SettingsChange = 'none' | 'live' | 'restart';

/** A typed facade over the configuration, read fresh on each use (rust-analyzer's config, in small). */
export class Settings {
  private get config(): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration(SECTION);
  }

  private read<T>(setting: Setting, fallback: T): T {
    return this.config.get<T>(setting.key, fallback);
  }

  /**
   * A setting that chooses where data and secrets go (`machine` scope in
   * package.json): only the user's own value counts, never a workspace's,
   * whatever the VS Code version does with the scope (R-SEC-4).
   */
  private readUser<T>(setting: Setting, fallback: T): T {
    const seen = this.config.inspect<T>(setting.key);
    return seen?.globalValue ?? seen?.defaultValue ?? fallback;
  }

  get httpPort(): number {
    return this.read(SETTINGS.httpPort, 0);
  }

  get storeUrl(): string {
    return this.readUser(SETTINGS.storeUrl, '');
  }

  get projectId(): string {
    return this.readUser(SETTINGS.projectId, '');
  }

  get allowedPaths(): string[] {
    return this.readUser<string[]>(SETTINGS.allowedPaths, []);
  }

  /** The store's quotas (R-SEC-1): a repository must not raise them, so user settings only. */
  get storeQuotas(): StoreQuotas {
    const mib = 1024 * 1024;
    return {
      maxNamespaces: this.readUser(SETTINGS.maxNamespaces, DEFAULT_MAX_NAMESPACES),
      maxNamespaceBytes: this.readUser(SETTINGS.maxNamespaceMiB, DEFAULT_MAX_NAMESPACE_BYTES / mib) * mib,
      maxStoreBytes: this.readUser(SETTINGS.maxStoreMiB, DEFAULT_MAX_STORE_BYTES / mib) * mib,
    };
  }

  get statusBarEnabled(): boolean {
    return this.read(SETTINGS.statusBar, true);
  }

  get claimBadges(): boolean {
    return this.read(SETTINGS.claimBadges, true);
  }

  get warnBeforeSave(): boolean {
    return this.read(SETTINGS.warnBeforeSave, true);
  }

  coordinatorOptions(): OptionsOverride {
    return {
      sessions: {
        maxSessions: this.read(SETTINGS.maxSessions, 200),
        ttlMs: this.read(SETTINGS.ttlMinutes, 30) * 60_000,
        disconnectGraceMs: this.read(SETTINGS.disconnectGraceSeconds, 10) * 1000,
      },
      requests: {
        timeoutMs: this.read(SETTINGS.requestTimeoutSeconds, 30) * 1000,
        maxPerSession: this.read(SETTINGS.maxPendingPerSession, 1000),
      },
      claims: { acrossWorktrees: acrossWorktrees(this.read<string>(SETTINGS.acrossWorktrees, 'warn')) },
    };
  }

  /** Sorts a change: nothing of ours, something that applies now, or something that needs a restart. */
  classify(e: vscode.ConfigurationChangeEvent): SettingsChange {
    const touched = Object.values(SETTINGS).filter((s) => e.affectsConfiguration(`${SECTION}.${s.key}`));
    if (touched.length === 0) return 'none';
    return touched.some((s) => s.restart) ? 'restart' : 'live';
  }
}

function acrossWorktrees(value: string): AcrossWorktrees {
  return (ACROSS_WORKTREES as readonly string[]).includes(value) ? (value as AcrossWorktrees) : 'warn';
}
