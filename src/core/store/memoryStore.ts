import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import { isHeldBy, participantEntry } from './participantEntry.js';
import { Emitter } from '../lifecycle/emitter.js';
import { toDisposable, type Disposable } from '../lifecycle/disposable.js';
import { historyPage, type HistoryOptions } from './rules/history.js';
import { ShardState } from './file/shardState.js';
import {
  CLAIMS_NAMESPACE,
  MESSAGES_NAMESPACE,
  checkDelta,
  checkValue,
  decide,
  type WriteOp,
  liveClaims,
  toClaim,
  type ByteQuota,
} from './rules/decisions.js';
import { DEFAULT_STORE_QUOTAS, tooManyNamespaces, validateKey, validateNamespace } from './rules/limits.js';
import type { AcrossWorktrees, Actor, Claim, ControlRequest, Grant, HolderFilter, ParticipantInfo, ParticipantSession } from './actors.js';
import type { ChangeEvent, HistoryPage, SetOptions, SharedStore, StoreEvent, StoreStatus, StoredValue } from './sharedStore.js';

/**
 * The local-only store of degraded mode (R-CTX-8): same rules as the shared
 * ones (the same ShardState and decisions), kept in this process alone.
 */
export class MemoryStore implements SharedStore {
  readonly participantId = `${os.hostname()}-${process.pid}-local-${randomBytes(3).toString('hex')}`;
  private readonly shards = new Map<string, ShardState>();
  private readonly log = new Map<string, ChangeEvent[]>();
  private readonly events = new Emitter<StoreEvent>();
  readonly onEvent = this.events.event;

  /** Every change is delivered here anyway. */
  watchChanges(): Disposable {
    return toDisposable(() => undefined);
  }
  private sessions: readonly ParticipantSession[] = [];
  private readonly startedAt = Date.now();
  private nonce = 0;

  constructor(
    private readonly reason: string,
    private readonly label: string,
    private readonly maxLogRecords = 10_000,
  ) {}

  async get(namespace: string, key: string): Promise<StoredValue | undefined> {
    validateKey(key);
    return this.shard(validateNamespace(namespace)).live(key);
  }

  async set(namespace: string, key: string, value: unknown, by: Actor, options?: SetOptions): Promise<StoredValue> {
    validateKey(key);
    checkValue(value, key);
    const change = this.write(validateNamespace(namespace), { kind: 'set', key, value, options }, by)!;
    return { value, version: change.version, updatedAt: change.at, updatedBy: by };
  }

  async update(namespace: string, key: string, fn: (current: StoredValue | undefined) => unknown, by: Actor): Promise<StoredValue> {
    validateKey(key);
    const change = this.write(validateNamespace(namespace), { kind: 'update', key, fn }, by)!;
    return { value: change.value, version: change.version, updatedAt: change.at, updatedBy: by };
  }

  async increment(namespace: string, key: string, delta: number, by: Actor): Promise<StoredValue> {
    validateKey(key);
    checkDelta(delta, key);
    const change = this.write(validateNamespace(namespace), { kind: 'increment', key, delta }, by)!;
    return { value: change.value, version: change.version, updatedAt: change.at, updatedBy: by };
  }

  async delete(namespace: string, key: string, by: Actor, options?: SetOptions): Promise<{ deleted: boolean; version: number }> {
    validateKey(key);
    const change = this.write(validateNamespace(namespace), { kind: 'delete', key, options }, by);
    return { deleted: change !== undefined, version: change?.version ?? 0 };
  }

  async list(namespace: string, prefix = ''): Promise<Array<{ key: string } & StoredValue>> {
    return [...this.shard(validateNamespace(namespace)).entries]
      .filter(([k, e]) => !e.deleted && k.startsWith(prefix))
      .map(([key, e]) => ({ key, value: e.value, version: e.version, updatedAt: e.updatedAt, updatedBy: e.updatedBy }))
      .sort((a, b) => a.key.localeCompare(b.key));
  }

  async namespaces(): Promise<string[]> {
    return [...this.shards.keys()].filter((n) => !n.startsWith('_')).sort();
  }

  history(options: HistoryOptions): Promise<HistoryPage> {
    return historyPage(
      options,
      () => this.namespaces(),
      async (n, afterSeq, limit) => (this.log.get(n) ?? []).filter((r) => r.seq > afterSeq).slice(0, limit),
    );
  }

  async acquireClaim(resource: string, holder: Actor, ttlMs: number, options?: { acrossWorktrees?: AcrossWorktrees }): Promise<Grant> {
    const elsewhere: Claim[] = [];
    const op: WriteOp = { kind: 'acquire', resource, holder, ttlMs, across: options?.acrossWorktrees };
    const change = this.write(CLAIMS_NAMESPACE, op, holder, elsewhere)!;
    return { ...toClaim(change.key, change.value), ...(elsewhere.length ? { elsewhere } : {}) };
  }

  async renewClaim(resource: string, fencingToken: number, ttlMs: number, by: Actor): Promise<Claim> {
    const change = this.write(CLAIMS_NAMESPACE, { kind: 'renew', resource, fencingToken, ttlMs, by }, by)!;
    return toClaim(change.key, change.value);
  }

  async releaseClaim(resource: string, fencingToken: number, by: Actor): Promise<void> {
    this.write(CLAIMS_NAMESPACE, { kind: 'release', resource, fencingToken, by }, by);
  }

  async revokeClaim(resource: string, fencingToken: number, by: Actor, checkout?: string): Promise<void> {
    this.write(CLAIMS_NAMESPACE, { kind: 'release', resource, fencingToken, checkout }, by);
  }

  async sendControl(request: Omit<ControlRequest, 'at'>): Promise<void> {
    const full: ControlRequest = { ...request, at: Date.now() };
    this.events.fire({ kind: 'control', request: full });
  }

  async listClaims(prefix = ''): Promise<Claim[]> {
    return liveClaims(this.shard(CLAIMS_NAMESPACE), Date.now()).filter((c) => c.resource.startsWith(prefix));
  }

  async transferClaim(resource: string, fencingToken: number, to: Actor, ttlMs: number, by: Actor): Promise<Claim> {
    const change = this.write(CLAIMS_NAMESPACE, { kind: 'transfer', resource, fencingToken, to, ttlMs, by }, by)!;
    return toClaim(change.key, change.value);
  }

  async readInbox(inbox: string): Promise<StoredValue | undefined> {
    validateKey(inbox);
    return this.shard(MESSAGES_NAMESPACE).live(inbox);
  }

  async updateInbox(inbox: string, fn: (current: StoredValue | undefined) => unknown, by: Actor): Promise<StoredValue> {
    validateKey(inbox);
    const change = this.write(MESSAGES_NAMESPACE, { kind: 'update', key: inbox, fn }, by)!;
    return { value: change.value, version: change.version, updatedAt: change.at, updatedBy: by };
  }

  async releaseClaimsOf(holder: HolderFilter): Promise<number> {
    const held = (await this.listClaims()).filter((c) => isHeldBy(c, holder));
    for (const c of held) await this.releaseClaim(c.resource, c.fencingToken, c.holder);
    return held.length;
  }

  async heartbeat(sessions: readonly ParticipantSession[]): Promise<void> {
    this.sessions = sessions;
  }

  async participants(): Promise<ParticipantInfo[]> {
    return [participantEntry(this.participantId, { kind: 'headless', label: this.label }, this.startedAt, this.sessions)];
  }

  describe(): Pick<StoreStatus, 'kind' | 'location' | 'degraded'> {
    return { kind: 'memory', location: 'this process only', degraded: true };
  }

  async status(): Promise<StoreStatus> {
    const namespaces = (await this.namespaces()).map((name) => {
      const s = this.shard(name);
      return { name, keys: [...s.entries.values()].filter((e) => !e.deleted).length, lastSeq: s.seq };
    });
    return { kind: 'memory', location: 'this process only', degraded: true, reason: this.reason, namespaces, eventLogBytes: 0 };
  }

  dispose(): void {
    this.events.dispose();
  }

  private quotaFor(namespace: string): ByteQuota {
    return {
      namespaceBytes: DEFAULT_STORE_QUOTAS.maxNamespaceBytes,
      storeBytes: DEFAULT_STORE_QUOTAS.maxStoreBytes,
      elsewhere: () => [...this.shards].reduce((sum, [name, s]) => (name === namespace ? sum : sum + s.liveBytes), 0),
    };
  }

  /** A read of a namespace nobody wrote sees an empty one, and keeps nothing (R-SEC-1). */
  private shard(name: string): ShardState {
    return this.shards.get(name) ?? new ShardState(name, 1, 0, 0);
  }

  private write(namespace: string, op: WriteOp, by: Actor, elsewhere?: Claim[]): ChangeEvent | undefined {
    const state = this.shard(namespace);
    const decision = decide(state, op, { now: Date.now(), quota: this.quotaFor(namespace), ...(elsewhere ? { elsewhere } : {}) });
    if ('skip' in decision) return undefined;
    if (!this.shards.has(namespace)) {
      const count = [...this.shards.keys()].filter((n) => !n.startsWith('_')).length;
      if (!namespace.startsWith('_') && count >= DEFAULT_STORE_QUOTAS.maxNamespaces)
        throw tooManyNamespaces(namespace, count, DEFAULT_STORE_QUOTAS.maxNamespaces);
      this.shards.set(namespace, new ShardState(namespace, 1, 0, 0));
    }
    const change = this.shard(namespace).apply({ ...decision.record, n: String(this.nonce++), at: Date.now(), by })!;
    const log = this.log.get(namespace) ?? [];
    log.push(change);
    if (log.length > this.maxLogRecords) log.shift();
    this.log.set(namespace, log);
    const event: StoreEvent =
      namespace === CLAIMS_NAMESPACE
        ? { kind: 'claims' }
        : namespace === MESSAGES_NAMESPACE
          ? { kind: 'inbox', inbox: change.key }
          : { kind: 'change', change };
    this.events.fire(event);
    return change;
  }
}
