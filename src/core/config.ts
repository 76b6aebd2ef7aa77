import type { PendingRequestLimits } from './requests/pendingRequests.js';
import type { RootResolverOptions } from './roots/rootResolver.js';
import type { SessionLimits } from './sessions/sessionRegistry.js';

/** Every tunable of one coordinator run, with the defaults the requirements name. */
export interface CoordinatorOptions {
  sessions: SessionLimits;
  requests: PendingRequestLimits;
  roots: RootResolverOptions;
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
};

export type OptionsOverride = {
  [K in keyof CoordinatorOptions]?: Partial<CoordinatorOptions[K]>;
};

export function withDefaults(override: OptionsOverride = {}): CoordinatorOptions {
  return {
    sessions: { ...DEFAULT_OPTIONS.sessions, ...override.sessions },
    requests: { ...DEFAULT_OPTIONS.requests, ...override.requests },
    roots: { ...DEFAULT_OPTIONS.roots, ...override.roots },
  };
}
