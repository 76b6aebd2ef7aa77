import type { Actor } from '../actors.js';
import type { ChangeEvent, StoredValue } from '../sharedStore.js';
import { entryBytes } from '../rules/limits.js';

export interface Entry extends StoredValue {
  readonly deleted?: boolean;
}

/**
 * One write as it sits in the log. `pv` is the version it was decided
 * against; `after` is the nonce of the record before it in the same group
 * commit, which it was decided after: it applies only if that one did.
 */
export interface WalRecord {
  readonly n: string;
  readonly after?: string;
  readonly op: 'set' | 'delete';
  readonly k: string;
  readonly v?: unknown;
  readonly pv: number;
  readonly at: number;
  readonly by: Actor;
}

export interface SnapshotBody {
  readonly format: 1;
  readonly namespace: string;
  readonly generation: number;
  readonly baseSeq: number;
  readonly entries: Record<string, Entry>;
  readonly recentNonces: string[];
}

const RECENT_NONCES = 2048;

export interface Undo {
  readonly key: string;
  readonly entry: Entry | undefined;
  readonly nonce: string;
  readonly liveBytes: number;
  readonly seq: number;
  readonly oldestNonce: string | undefined;
}

/**
 * The state of one shard, rebuilt the same way by every process: a record
 * applies only if its key is still at the version the writer saw. A record
 * written by a holder whose lock was taken from it (a stalled event loop, a
 * slow stale reclaim) therefore never overwrites a newer write blindly; its
 * writer sees it rejected and retries.
 */
export class ShardState {
  readonly entries = new Map<string, Entry>();
  private readonly nonces = new Set<string>();
  /** What the live entries count against the byte quotas (R-SEC-1). */
  liveBytes = 0;

  constructor(
    readonly namespace: string,
    public generation: number,
    public baseSeq: number,
    public seq: number,
  ) {}

  static fromSnapshot(s: SnapshotBody): ShardState {
    const state = new ShardState(s.namespace, s.generation, s.baseSeq, s.baseSeq);
    for (const [k, e] of Object.entries(s.entries)) {
      state.entries.set(k, e);
      if (!e.deleted) state.liveBytes += entryBytes(k, e.value);
    }
    for (const n of s.recentNonces) state.nonces.add(n);
    return state;
  }

  toSnapshot(generation: number): SnapshotBody {
    return {
      format: 1,
      namespace: this.namespace,
      generation,
      baseSeq: this.seq,
      entries: Object.fromEntries(this.entries),
      recentNonces: [...this.nonces],
    };
  }

  versionOf(key: string): number {
    return this.entries.get(key)?.version ?? 0;
  }

  live(key: string): Entry | undefined {
    const e = this.entries.get(key);
    return e && !e.deleted ? e : undefined;
  }

  hasNonce(nonce: string): boolean {
    return this.nonces.has(nonce);
  }

  /** What apply(r) changes, so a write whose append did not land as assumed can take it back. */
  undoFor(r: WalRecord): Undo {
    return {
      key: r.k,
      entry: this.entries.get(r.k),
      nonce: r.n,
      liveBytes: this.liveBytes,
      seq: this.seq,
      oldestNonce: this.nonces.size >= RECENT_NONCES ? (this.nonces.values().next().value as string) : undefined,
    };
  }

  undo(u: Undo): void {
    if (u.entry) this.entries.set(u.key, u.entry);
    else this.entries.delete(u.key);
    this.nonces.delete(u.nonce);
    if (u.oldestNonce !== undefined) {
      // Back in front, where apply() took it from: every process evicts the same nonces in the same order.
      const rest = [...this.nonces];
      this.nonces.clear();
      this.nonces.add(u.oldestNonce);
      for (const n of rest) this.nonces.add(n);
    }
    this.liveBytes = u.liveBytes;
    this.seq = u.seq;
  }

  /** Applies a record if it still fits; returns its change, or undefined when it is rejected. */
  apply(r: WalRecord): ChangeEvent | undefined {
    const previous = this.entries.get(r.k);
    const previousVersion = previous?.version ?? 0;
    if (r.pv !== previousVersion || this.nonces.has(r.n)) return undefined;
    // Its batch was cut short (a line of another holder got in first): what it decided no longer holds.
    if (r.after !== undefined && !this.nonces.has(r.after)) return undefined;
    const version = previousVersion + 1;
    if (previous && !previous.deleted) this.liveBytes -= entryBytes(r.k, previous.value);
    if (r.op === 'set') this.liveBytes += entryBytes(r.k, r.v);
    // Deletes keep a tombstone so versions never go back: no ABA for compare-and-set.
    this.entries.set(r.k, {
      value: r.op === 'set' ? r.v : null,
      version,
      updatedAt: r.at,
      updatedBy: r.by,
      ...(r.op === 'delete' ? { deleted: true } : {}),
    });
    this.nonces.add(r.n);
    if (this.nonces.size > RECENT_NONCES) this.nonces.delete(this.nonces.values().next().value as string);
    this.seq++;
    return {
      namespace: this.namespace,
      seq: this.seq,
      key: r.k,
      op: r.op,
      ...(r.op === 'set' ? { value: r.v } : {}),
      version,
      previousVersion,
      ...(previous && !previous.deleted ? { previousValue: previous.value } : {}),
      at: r.at,
      by: r.by,
    };
  }
}

/** A snapshot is replaced only by one that passes this check (R-CTX-4). */
export function isSnapshotBody(value: unknown, namespace: string, generation: number): value is SnapshotBody {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Record<string, unknown>;
  if (s.format !== 1 || s.namespace !== namespace || s.generation !== generation) return false;
  if (!Number.isInteger(s.baseSeq) || (s.baseSeq as number) < 0) return false;
  if (!Array.isArray(s.recentNonces) || typeof s.entries !== 'object' || s.entries === null || Array.isArray(s.entries)) return false;
  for (const e of Object.values(s.entries as Record<string, unknown>)) {
    const entry = e as Record<string, unknown> | null;
    if (
      !entry ||
      !Number.isInteger(entry.version) ||
      (entry.version as number) < 1 ||
      typeof entry.updatedAt !== 'number' ||
      typeof entry.updatedBy !== 'object'
    )
      return false;
  }
  return true;
}
