import type { PendingRequestLimits } from './requests/pendingRequests.js';
import type { RootResolverOptions } from './roots/rootResolver.js';
import type { SessionLimits } from './sessions/sessionRegistry.js';
import type { AcrossWorktrees } from './store/actors.js';

export interface ClaimOptions {
  /** The same file claimed in another worktree of the repository: granted with a warning, refused, or ignored (issue 17). */
  acrossWorktrees: AcrossWorktrees;
}

/** Every tunable of one coordinator run, with the defaults the requirements name. */
export interface CoordinatorOptions {
  sessions: SessionLimits;
  requests: PendingRequestLimits;
  roots: RootResolverOptions;
  claims: ClaimOptions;
}

export const DEFAULT_OPTIONS: CoordinatorOptions = {
  sessions: {
    maxSessions: 200,
    ttlMs: 30 * 60_000,
    maxChildrenPerParent: 16,
    sweepIntervalMs: 10_000,
    longRunningMs: 60 * 60_000,
    highVolumeRequests: 1_000,
    disconnectGraceMs: 10_000,
  },
  requests: { maxPerSession: 1_000, maxTotal: 10_000, timeoutMs: 30_000 },
  roots: { timeoutMs: 2_000, cacheTtlMs: 10_000 },
  claims: { acrossWorktrees: 'warn' },
};

export type OptionsOverride = {
  [K in keyof CoordinatorOptions]?: Partial<CoordinatorOptions[K]>;
};

export function withDefaults(override: OptionsOverride = {}): CoordinatorOptions {
  return {
    sessions: { ...DEFAULT_OPTIONS.sessions, ...override.sessions },
    requests: { ...DEFAULT_OPTIONS.requests, ...override.requests },
    roots: { ...DEFAULT_OPTIONS.roots, ...override.roots },
    claims: { ...DEFAULT_OPTIONS.claims, ...override.claims },
  };
}
