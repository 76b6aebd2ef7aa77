import { CoordinatorError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import type { Metrics } from '../metrics/metrics.js';

export type RequestId = string | number;

export interface PendingRequest {
  readonly sessionId: string;
  readonly id: RequestId;
  readonly method: string;
  readonly startedAt: number;
}

export interface PendingRequestLimits {
  maxPerSession: number;
  maxTotal: number;
  timeoutMs: number;
}

interface Entry extends PendingRequest {
  timer: NodeJS.Timeout;
}

/** JSON-RPC allows 1 and "1" as different ids: keep them apart. */
function keyOf(id: RequestId): string {
  return `${typeof id}:${id}`;
}

/**
 * In-flight requests, keyed session -> request id (R-REQ-1). Completion is
 * one atomic take (R-REQ-2); each entry remembers its method (R-REQ-3);
 * bounded per session and in total (R-REQ-4); timed out (R-REQ-5); a lost
 * correlation is logged and counted (R-REQ-6).
 */
export class PendingRequests {
  private readonly bySession = new Map<string, Map<string, Entry>>();
  private total = 0;

  constructor(
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly limits: PendingRequestLimits,
  ) {
    metrics.gauge('requests.pending', () => this.total);
  }

  get size(): number {
    return this.total;
  }

  /** Tracked sessions: returns to zero when every session has ended. */
  get sessionCount(): number {
    return this.bySession.size;
  }

  countFor(sessionId: string): number {
    return this.bySession.get(sessionId)?.size ?? 0;
  }

  /** Registers a request, or throws TooManyRequests / DuplicateRequestId and registers nothing. */
  begin(sessionId: string, id: RequestId, method: string, onTimeout: (request: PendingRequest) => void): void {
    const forSession = this.bySession.get(sessionId);
    const inSession = forSession?.size ?? 0;
    if (inSession >= this.limits.maxPerSession || this.total >= this.limits.maxTotal) {
      this.metrics.counter('requests.rejected').inc();
      const perSession = inSession >= this.limits.maxPerSession;
      throw new CoordinatorError(
        'TooManyRequests',
        perSession
          ? `Too many requests: session ${sessionId} already has ${inSession} pending (limit ${this.limits.maxPerSession}); wait for some to finish`
          : `Too many requests: the coordinator already has ${this.total} pending (limit ${this.limits.maxTotal}); try again shortly`,
        { sessionId, pending: perSession ? inSession : this.total, limit: perSession ? this.limits.maxPerSession : this.limits.maxTotal },
      );
    }
    const key = keyOf(id);
    if (forSession?.has(key)) {
      throw new CoordinatorError('DuplicateRequestId', `Request id ${JSON.stringify(id)} is already in flight in session ${sessionId}`, {
        sessionId,
        id,
      });
    }
    const entry: Entry = {
      sessionId,
      id,
      method,
      startedAt: performance.now(),
      timer: setTimeout(() => {
        const taken = this.remove(sessionId, key);
        if (!taken) return;
        this.metrics.counter('requests.timeouts').inc();
        onTimeout(taken);
      }, this.limits.timeoutMs),
    };
    entry.timer.unref();
    let map = forSession;
    if (!map) this.bySession.set(sessionId, (map = new Map()));
    map.set(key, entry);
    this.total++;
  }

  /** Removes and returns the request in one step; undefined (logged, counted) if it is not pending. */
  take(sessionId: string, id: RequestId): PendingRequest | undefined {
    const entry = this.remove(sessionId, keyOf(id));
    if (!entry) {
      this.metrics.counter('requests.correlationLost').inc();
      this.logger.warn(
        `Lost correlation: no pending request ${JSON.stringify(id)} in session ${sessionId} (timed out or already answered)`,
      );
      return undefined;
    }
    this.metrics.histogram('requests.latencyMs').record(performance.now() - entry.startedAt);
    return entry;
  }

  /** Forgets a request the client cancelled: no answer is owed, so nothing is lost. */
  cancel(sessionId: string, id: RequestId): boolean {
    return this.remove(sessionId, keyOf(id)) !== undefined;
  }

  /** Drops every pending request of a session at once; returns how many. */
  dropSession(sessionId: string): number {
    const map = this.bySession.get(sessionId);
    if (!map) return 0;
    this.bySession.delete(sessionId);
    for (const entry of map.values()) clearTimeout(entry.timer);
    this.total -= map.size;
    return map.size;
  }

  dispose(): void {
    for (const id of [...this.bySession.keys()]) this.dropSession(id);
  }

  private remove(sessionId: string, key: string): Entry | undefined {
    const map = this.bySession.get(sessionId);
    const entry = map?.get(key);
    if (!map || !entry) return undefined;
    map.delete(key);
    if (map.size === 0) this.bySession.delete(sessionId);
    clearTimeout(entry.timer);
    this.total--;
    return entry;
  }
}
