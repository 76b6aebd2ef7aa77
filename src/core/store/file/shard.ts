import { randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { Mutex } from 'async-mutex';
import { CoordinatorError, errorMessage } from '../../errors.js';
import type { Logger } from '../../logging/logger.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { ChangeEvent } from '../sharedStore.js';
import { createFileDurable, fsyncDir, prepareReplace, removeTempFiles, writeFileDurable } from './durableFiles.js';
import { failpoint } from './failpoints.js';
import { assertRealDirectory, assertRegularFileOrMissing, NOFOLLOW, unsafeOnLoop } from './safePaths.js';
import type { Committed, Look, LookRequest, ShardIo } from './shardIo.js';
import { ShardLock, type HeldLock, type LockOptions } from './shardLock.js';
import { isSnapshotBody, ShardState, type SnapshotBody, type Undo, type WalRecord } from './shardState.js';
import { decodeLine, encodeLine, isHeader, isRecord, splitLines, type WalHeader } from './walFormat.js';

export interface ShardOptions {
  lock: LockOptions;
  /** The least a log grows before it is folded into a new snapshot and a fresh log (a large namespace waits for a quarter of its snapshot). */
  rotateBytes: number;
  /** Archived logs beyond this total are pruned (R-CTX-5). */
  maxEventLogBytes: number;
  /** Snapshots kept besides the current one (R-CTX-4: the last 3 backups). */
  backups: number;
  /** The logs of all namespaces together, about (R-SEC-1): many namespaces each rotate sooner and keep less history. */
  maxStoreLogBytes: number;
}

export interface ShardDeps {
  metrics: Metrics;
  logger: Logger;
  options: ShardOptions;
  /** Changes this process learns of, its own and other processes', in log order. */
  onChanges: (events: ChangeEvent[]) => void;
  nonce: () => string;
  /** How the hot path's file-system calls run (blocking, or async in the extension host). */
  io: ShardIo;
  /** How many namespaces share the store's log budget (maxStoreLogBytes). */
  namespaces: () => number;
}

/** What a write decides once it holds the lock and sees the latest state. */
export type Decision = { record: Omit<WalRecord, 'n' | 'at' | 'by'> } | { skip: true };

/** One attempt's outcome: each write is told once the lock is released and its lines are durable (or failed to be). */
interface Commit {
  settled: Array<(syncError?: unknown) => void>;
  syncError?: Error;
  /** Applied as decided and durable: the lock may serve the next batch without a look. */
  keepable?: boolean;
}

interface PendingWrite {
  decide: (state: ShardState) => Decision;
  by: WalRecord['by'];
  resolve: (change: ChangeEvent | undefined) => void;
  reject: (e: unknown) => void;
}

const CURRENT = 'CURRENT';
/**
 * How long a writer keeps the shard's lock for writes that keep coming before others get a turn: at most this many
 * batches, and past the second no longer than HOLD_MS (a loaded machine still gets the second).
 */
const HOLD_BATCHES = 8;
const HOLD_MS = 10;
/** A log is folded once it reaches this share of the snapshot: each byte held is rewritten a bounded number of times. */
const LOG_SHARE_OF_SNAPSHOT = 1 / 4;
/** A namespace's folder stays within this many times its current snapshot (R-SEC-1), above a floor for small ones. */
const DISK_FACTOR = 2.75;
/** The least a log grows before it folds, however many namespaces share the store's log budget: a fold per write is waste. */
const MIN_ROTATE_BYTES = 64 * 1024;
/** Files of a rotation that never committed are removed once this many times the lock's staleness old (see clearUncommitted). */
const LEFTOVER_STALE_FACTOR = 10;
const snapshotName = (g: number): string => `snapshot.${g}.json`;
const walName = (g: number): string => `wal.${g}.log`;

/**
 * One namespace on disk: a snapshot plus an append-only log, rotated at a
 * commit point (the CURRENT file). A write appends one line and fdatasyncs
 * once, under the shard's lock; it then reads its line back and is
 * acknowledged only if it applied (see ShardState.apply).
 */
export class Shard {
  private state: ShardState | undefined;
  private wal: FileHandle | undefined;
  private walOffset = 0;
  private currentStamp = '';
  private readonly mutex = new Mutex();
  private readonly lock: ShardLock;
  /** Writes waiting for the next group commit. */
  private readonly pending: PendingWrite[] = [];
  /** A commit turn is queued on the mutex and has not started: a write pushed now is in it. */
  private commitQueued = false;
  /** While set, the tail records what became of each record it reads (a write reading back its own lines). */
  private readBack: Map<string, ChangeEvent | null> | undefined;
  /** Until the first load, records are history, not news: a process starting up reports none as changes. */
  private loaded: boolean;
  private initialized = false;
  /** The log's size at the last tail: the next append starts there unless someone else wrote. */
  private walSize = 0;
  /** The current generation's snapshot: its size on disk, and the bytes it held (the disk budget follows these). */
  private snapshotBytes = 0;
  private snapshotLive = 0;
  private refreshQueued = false;
  /** When this shard last read or wrote: the store closes the log of the least recently used ones (R-SEC-1). */
  lastUsedAt = Date.now();

  constructor(
    readonly dir: string,
    readonly namespace: string,
    private readonly deps: ShardDeps,
    /** A namespace that appeared while we run: everything in it is news. */
    reportExisting = false,
  ) {
    this.loaded = reportExisting;
    this.lock = new ShardLock(dir, deps.options.lock, deps.metrics, deps.logger, deps.io);
  }

  get lastSeq(): number {
    return this.state?.seq ?? 0;
  }

  /** What this namespace holds against the byte quotas, as of the last read. */
  get liveBytes(): number {
    return this.state?.liveBytes ?? 0;
  }

  get keyCount(): number {
    let n = 0;
    for (const e of this.state?.entries.values() ?? []) if (!e.deleted) n++;
    return n;
  }

  /** Reads the latest state (other processes' writes included) and runs `read` on it. */
  async read<T>(read: (state: ShardState) => T): Promise<T> {
    return this.mutex.runExclusive(async () => {
      this.lastUsedAt = Date.now();
      await this.refreshUnlocked();
      return read(this.state!);
    });
  }

  /** Catches up with other processes' writes; emits their changes. */
  async refresh(): Promise<void> {
    // A burst of watch events needs one refresh behind the current holder, not one each.
    if (this.refreshQueued) return;
    this.refreshQueued = true;
    await this.mutex.runExclusive(() => {
      this.refreshQueued = false;
      return this.refreshUnlocked();
    });
  }

  /**
   * Decides and appends one write under the locks. Writes that arrive while
   * another is committing wait and then commit together (group commit): one
   * lock hold, one append and one fdatasync for all of them, each decided
   * against the state the ones before it left. Returns the applied change,
   * or undefined when `decide` chose to write nothing.
   */
  write(decide: (state: ShardState) => Decision, by: WalRecord['by']): Promise<ChangeEvent | undefined> {
    return new Promise((resolve, reject) => {
      this.pending.push({ decide, by, resolve, reject });
      // One turn queued at a time, which commits everything pending when it starts. A turn per write piled up
      // behind the kept lock's batches without bound under steady load (issue 11: 47,000 waiting turns after
      // 48,000 writes from one window, 2.4 KB each, a fifth of the main thread's time in GC).
      if (this.commitQueued) return;
      this.commitQueued = true;
      void this.mutex.runExclusive(() => {
        this.commitQueued = false;
        return this.commitPending();
      });
    });
  }

  private async commitPending(): Promise<void> {
    let batch = this.pending.splice(0);
    // A lock kept from the commit before, with nothing read since: nobody else may append while it is ours.
    let held: HeldLock | undefined;
    let heldSince = 0;
    let batches = 0;
    let kept = false;
    try {
      for (let attempt = 0; ;) {
        if (batch.length === 0) {
          if (!kept || batches >= HOLD_BATCHES || (batches >= 2 && performance.now() - heldSince >= HOLD_MS)) return;
          // The writers just told may write again at once (agents in a loop): one turn of the loop to let them.
          await new Promise((resolve) => setImmediate(resolve));
          batch = this.pending.splice(0);
          if (batch.length === 0) return;
        }
        const commit: Commit = { settled: [] };
        try {
          if (!kept) {
            held = await this.lock.acquire(this.lookRequest());
            heldSince = performance.now();
            batches = 0;
          }
          batches++;
          const retry = await this.commitUnderLock(batch, commit, held!, kept);
          kept = commit.keepable === true;
          if (retry.length > 0) {
            this.deps.metrics.counter('store.writeRetries').inc(retry.length);
            if (++attempt > 20) {
              const error = new CoordinatorError(
                'StoreUnavailable',
                `Could not apply a write to namespace ${this.namespace} after ${attempt} attempts`,
                { namespace: this.namespace },
              );
              for (const w of retry) commit.settled.push(() => w.reject(error));
              batch = [];
            } else batch = retry;
          } else batch = [];
        } catch (e) {
          commit.settled.push(...batch.map((w) => () => w.reject(e)));
          batch = [];
          kept = false;
        }
        if (!kept) {
          await held?.release();
          held = undefined;
        }
        for (const settle of commit.settled) settle(commit.syncError);
      }
    } finally {
      await held?.release();
    }
  }

  /** One attempt under the shard's lock; returns the writes to retry (another holder got in first). */
  private async commitUnderLock(batch: PendingWrite[], commit: Commit, held: HeldLock, kept: boolean): Promise<PendingWrite[]> {
    const settled = commit.settled;
    if (!this.initialized) {
      await this.ensureInitialized();
      this.initialized = true;
    }
    this.lastUsedAt = Date.now();
    // The holder we took over from may be a rotator stopped with CURRENT's replacement ready and checked: without
    // its temp file its rename fails, so it cannot fold this log behind lines we are about to append and acknowledge.
    if (held.tookOver && !kept) await this.removeTempFiles();
    // The usual case: what the lock's taker read of the log is all there is to read (a kept lock: nothing new).
    if (!kept && !this.applyLook(held.look)) await this.refreshUnlocked();
    await this.openLog();
    const state = this.state!;
    const decided: Array<{ write: PendingWrite; record: WalRecord; change: ChangeEvent; undo: Undo }> = [];
    for (const write of batch) {
      let decision: Decision;
      try {
        decision = write.decide(state);
      } catch (e) {
        settled.push(() => write.reject(e));
        continue;
      }
      if ('skip' in decision) {
        settled.push(() => write.resolve(undefined));
        continue;
      }
      const after = decided.at(-1)?.record.n;
      const record: WalRecord = { ...decision.record, n: this.deps.nonce(), ...(after ? { after } : {}), at: Date.now(), by: write.by };
      const undo = state.undoFor(record);
      // Decided against this very state, so it applies; the next write in the batch sees it.
      decided.push({ write, record, change: state.apply(record)!, undo });
    }
    if (decided.length === 0) return [];
    const undoAll = (): void => {
      for (let i = decided.length - 1; i >= 0; i--) state.undo(decided[i]!.undo);
    };
    const stamp = this.currentStamp;
    // A fragment with no newline at the end is a writer killed mid-line: start ours on a fresh line.
    const lines = decided.map((d) => encodeLine(d.record)).join('');
    const text = this.walSize > this.walOffset ? '\n' + lines : lines;
    const expectedSize = this.walSize + Buffer.byteLength(text);
    // A rotation due after this append needs the lock a while longer; otherwise the commit releases it before its fdatasync.
    const keepLock = this.rotationDue(expectedSize);
    // Several writers of this process came together (a window's agents): they are likely to write again as soon as
    // they are told, so the lock is kept through the fdatasync for their next batches (HOLD_BATCHES of them, and
    // HOLD_MS past the second). A lone writer lets it go before its fdatasync, which the next process's append overlaps.
    const holdThrough = decided.length > 1;
    const release = !keepLock && !holdThrough;
    let result: Committed;
    try {
      result = await this.deps.io.commit({
        fd: this.wal!.fd,
        text,
        current: path.join(this.dir, CURRENT),
        lockFile: this.lock.lockFile,
        release,
      });
    } catch (e) {
      // Its outcome unknown (the worker thread died): forget what we assumed, so the next read takes the log as it
      // is, our lines in it or not; a state that kept them would decide later writes on versions nobody else has.
      undoAll();
      // Released already, perhaps, and taken since: unlinking it now could remove another process's lock.
      if (release) held.abandon();
      throw e;
    }
    held.releasedBy(result.released);
    if (result.writeError) {
      undoAll();
      const error = result.writeError;
      settled.push(...decided.map((d) => () => d.write.reject(error)));
      return [];
    }
    if (result.syncError) commit.syncError = result.syncError;
    else this.deps.metrics.counter('store.commits').inc();
    // Counts the writes this commit applied: a line that lost to another holder's is counted once, when it applies.
    const countApplied = (count: number): void => {
      if (!result.syncError) this.deps.metrics.counter('store.writes').inc(count);
    };
    // Nobody else wrote since our tail (the usual case): our lines directly follow, so they apply as decided.
    // Not past a fragment: a killed writer's last line may be whole but for its newline, and other readers apply it.
    if (result.size === expectedSize && result.stamp === stamp && this.walSize === this.walOffset) {
      countApplied(decided.length);
      this.walOffset = this.walSize = expectedSize;
      if (this.loaded) this.deps.onChanges(decided.map((d) => d.change));
      settled.push(...decided.map((d) => (syncError?: unknown) => (syncError ? d.write.reject(syncError) : d.write.resolve(d.change))));
      // Acknowledged once durable even if folding the log into a snapshot fails here.
      if (keepLock) await this.rotateIfDue(held);
      commit.keepable = holdThrough && !result.syncError;
      return [];
    }
    // Someone else appended too (a lock taken over): forget what we assumed, read back, and see which of ours applied.
    undoAll();
    const outcomes = new Map<string, ChangeEvent | null>();
    this.readBack = outcomes;
    try {
      await this.refreshUnlocked();
    } finally {
      this.readBack = undefined;
    }
    // Still this log: all our lines are in it, so the read-back read each. One it missed would be retried and apply
    // twice (the first on the next read): fail, saying so, rather than guess.
    if (this.state === state && decided.some((d) => !outcomes.has(d.record.n))) {
      const error = this.damaged('a write read back from its log was not found there; it may have applied');
      settled.push(...decided.map((d) => () => d.write.reject(error)));
      return [];
    }
    // Folded meanwhile: the next generation's snapshot holds the lines of our log up to its base, none after.
    const foldedAt = this.state === state ? undefined : (await this.readWal(state.generation + 1, true)).header?.baseSeq;
    const retry: PendingWrite[] = [];
    for (const { write, record } of decided) {
      // Applied is what the state we now hold says, judged by what reading our line back did, not by the nonces a
      // state remembers (the last 2048: a writer stopped after its append may be followed by more). Still this log:
      // that outcome. Folded: applied in the old log, within what the next snapshot took. Unknown (the next log is
      // pruned already): whether the state remembers the nonce.
      const outcome = outcomes.get(record.n);
      const applied =
        this.state === state
          ? outcome != null
          : outcome !== undefined && foldedAt !== undefined
            ? outcome !== null && outcome.seq <= foldedAt
            : this.state!.hasNonce(record.n);
      let change = applied ? outcomes.get(record.n) : undefined;
      if (applied && !change) {
        // Applied, but folded into a snapshot by a rotation we did not see happen. A line applies only at its key's
        // version pv, so it made version pv + 1, whatever was written after it.
        change = {
          namespace: this.namespace,
          seq: this.state!.seq,
          key: record.k,
          op: record.op,
          ...(record.op === 'set' ? { value: record.v } : {}),
          version: record.pv + 1,
          previousVersion: record.pv,
          at: record.at,
          by: record.by,
        };
      }
      if (change) {
        const done = change;
        settled.push((syncError?: unknown) => (syncError ? write.reject(syncError) : write.resolve(done)));
      } else retry.push(write);
    }
    countApplied(decided.length - retry.length);
    // Only under the lock: one released already leaves the rotation to the next write (it sees the log's size first).
    if (keepLock && retry.length < decided.length) await this.rotateIfDue(held);
    return retry;
  }

  /**
   * Applied changes with seq > afterSeq, oldest first, across rotated logs
   * still kept: from the oldest kept snapshot, each log replayed on the state
   * the one before it left (older snapshots besides that one need not be kept).
   */
  async history(afterSeq: number, limit: number): Promise<ChangeEvent[]> {
    const out: ChangeEvent[] = [];
    const gens = await this.generations();
    let state: ShardState | undefined;
    for (let i = 0; i < gens.length; i++) {
      const g = gens[i]!;
      if (state?.generation !== g) {
        // The first log, or a gap in the logs: start again from this generation's own snapshot.
        const snapshot = await this.readSnapshot(g);
        if (!snapshot) {
          state = undefined;
          continue;
        }
        state = ShardState.fromSnapshot(snapshot.body);
      }
      for (const change of await this.replay(state, g)) {
        if (change.seq > afterSeq) {
          out.push(change);
          if (out.length >= limit) return out;
        }
      }
    }
    return out;
  }

  /**
   * Applies log `g` to `state` (the state its snapshot holds) and leaves it as
   * the next generation's snapshot holds it. Lines past the next log's base
   * are a late writer's whose lock was taken over: the next snapshot never had them.
   */
  private async replay(state: ShardState, g: number): Promise<ChangeEvent[]> {
    const until = (await this.readWal(g + 1, true)).header?.baseSeq;
    const changes: ChangeEvent[] = [];
    for (const r of (await this.readWal(g)).records) {
      if (until !== undefined && state.seq >= until) break;
      const change = state.apply(r);
      if (change) changes.push(change);
    }
    state.generation = g + 1;
    return changes;
  }

  async eventLogBytes(): Promise<number> {
    let total = 0;
    for (const g of await this.generations()) total += (await fs.stat(path.join(this.dir, walName(g))).catch(() => undefined))?.size ?? 0;
    return total;
  }

  async close(): Promise<void> {
    await this.mutex.runExclusive(async () => {
      await this.wal?.close();
      this.wal = undefined;
    });
  }

  get hasOpenLog(): boolean {
    return this.wal !== undefined;
  }

  /**
   * Closes the log's handle and keeps the state: the next read or write
   * reopens it where it left off (the log only grows within a generation).
   * Open files then follow what is in use, not how many namespaces exist.
   */
  async closeLog(): Promise<void> {
    await this.mutex.runExclusive(async () => {
      await this.wal?.close();
      this.wal = undefined;
    });
  }

  /** The current generation's log, reopened after closeLog(). Caller holds the mutex. */
  private async openLog(): Promise<FileHandle> {
    if (this.wal) return this.wal;
    const file = path.join(this.dir, walName(this.state!.generation));
    await assertRegularFileOrMissing(file);
    try {
      this.wal = await fs.open(file, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | NOFOLLOW, 0o600);
    } catch (e) {
      throw unsafeOnLoop(e, file);
    }
    return this.wal;
  }

  private async ensureInitialized(): Promise<void> {
    await assertRealDirectory(this.dir);
    if (await this.readCurrent()) return;
    // First writer of this namespace: generation 1, empty. Nothing is replaced: a first writer stopped here past the
    // lock's staleness resumes after its taker made these files and others appended to the log (a test stops it here).
    failpoint('shard.init.create');
    await this.removeTempFiles();
    await createFileDurable(path.join(this.dir, snapshotName(1)), JSON.stringify(new ShardState(this.namespace, 1, 0, 0).toSnapshot(1)));
    await createFileDurable(path.join(this.dir, walName(1)), encodeLine({ wal: 1, baseSeq: 0, namespace: this.namespace }));
    await createFileDurable(path.join(this.dir, CURRENT), '1\n');
  }

  /** Temp files of writers killed (or stopped and taken over) mid-write. Caller holds the lock. */
  private async removeTempFiles(): Promise<void> {
    const cleaned = await removeTempFiles(this.dir);
    if (cleaned) this.deps.metrics.counter('store.tempFilesRemoved').inc(cleaned);
  }

  private async readCurrent(): Promise<number | undefined> {
    try {
      const text = await fs.readFile(path.join(this.dir, CURRENT), { encoding: 'utf8', flag: constants.O_RDONLY | NOFOLLOW });
      const g = Number(text.trim());
      return Number.isInteger(g) && g > 0 ? g : undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw unsafeOnLoop(e, path.join(this.dir, CURRENT));
    }
  }

  /** Follows CURRENT (a rotation elsewhere) and reads the log to its end. Caller holds the mutex. */
  private async stampOfCurrent(): Promise<string> {
    // The io's look is the one place a stamp is made: the commit's check compares stamps from both.
    // '' only when CURRENT is missing: any other error is thrown, never taken for "nothing written yet".
    return (await this.deps.io.look({ current: path.join(this.dir, CURRENT), fd: -1, offset: 0 })).stamp;
  }

  private damaged(what: string): CoordinatorError {
    this.deps.metrics.counter('store.damaged').inc();
    return new CoordinatorError('StoreUnavailable', `Namespace ${this.namespace}: ${what}`, { namespace: this.namespace });
  }

  /** What a look reads: CURRENT, and the open log from where we read up to. */
  private lookRequest(): LookRequest {
    return { current: path.join(this.dir, CURRENT), fd: (this.state && this.wal?.fd) ?? -1, offset: this.walOffset };
  }

  /** Takes in what a look read, if nothing rotated since the last look; false: the slow path must read. */
  private applyLook(look: Look): boolean {
    if (!this.state || !this.wal || look.size < 0 || look.stamp !== this.currentStamp) return false;
    this.walSize = look.size;
    this.applyLines(look.text);
    this.loaded = true;
    return true;
  }

  private async refreshUnlocked(): Promise<void> {
    // The usual case, no rotation since the last look: CURRENT and the open log in one look.
    const request = this.lookRequest();
    const look = request.fd >= 0 ? await this.deps.io.look(request).catch(() => undefined) : undefined;
    if (look && this.applyLook(look)) return;
    const stamp = await this.stampOfCurrent();
    if (stamp !== this.currentStamp || !this.state) {
      const generation = stamp ? await this.readCurrent() : undefined;
      if (generation === undefined) {
        // A namespace that had a log lost its commit point: reading on would answer from what we last read.
        if (this.state && this.state.generation > 0) throw this.damaged('its CURRENT file is gone or unreadable');
        this.state ??= new ShardState(this.namespace, 0, 0, 0);
        return;
      }
      if (generation !== this.state?.generation) await this.switchTo(generation);
      this.currentStamp = stamp;
    }
    await this.tail();
    this.loaded = true;
  }

  private async switchTo(generation: number): Promise<void> {
    const previous = this.state;
    if (previous && previous.generation > 0 && this.wal) await this.tail();
    await this.wal?.close();
    this.wal = undefined;
    const snapshot = await this.readSnapshot(generation);
    const next = snapshot ? ShardState.fromSnapshot(snapshot.body) : await this.recover(generation);
    const snapshotBytes = snapshot?.bytes ?? Buffer.byteLength(JSON.stringify(next.toSnapshot(generation)));
    if (previous && previous.generation > 0) {
      // Whatever we missed while another process rotated (its log pruned already): report it as changes.
      const missed: ChangeEvent[] = [];
      for (const [key, e] of next.entries) {
        const before = previous.entries.get(key);
        if ((before?.version ?? 0) < e.version)
          missed.push({
            namespace: this.namespace,
            seq: next.seq,
            key,
            op: e.deleted ? 'delete' : 'set',
            ...(e.deleted ? {} : { value: e.value }),
            version: e.version,
            previousVersion: before?.version ?? 0,
            at: e.updatedAt,
            by: e.updatedBy,
          });
      }
      if (missed.length) this.deps.onChanges(missed);
    }
    const file = path.join(this.dir, walName(generation));
    await assertRegularFileOrMissing(file);
    try {
      this.wal = await fs.open(file, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | NOFOLLOW, 0o600);
    } catch (e) {
      throw unsafeOnLoop(e, file);
    }
    // Only now: a shard whose log cannot be opened keeps no state that a write could append against.
    this.state = next;
    this.walOffset = 0;
    this.snapshotBytes = snapshotBytes;
    this.snapshotLive = next.liveBytes;
  }

  /** Reads complete new lines of the current log and applies them. */
  private async tail(): Promise<void> {
    if (!this.state || this.state.generation === 0) return;
    if (!this.wal) {
      // A closed log is reopened only when another process wrote to it.
      const size = (await fs.stat(path.join(this.dir, walName(this.state.generation))).catch(() => undefined))?.size ?? 0;
      if (size <= this.walOffset) {
        this.walSize = size;
        return;
      }
      await this.openLog();
    }
    const size = (await this.wal!.stat()).size;
    this.walSize = size;
    if (size <= this.walOffset) return;
    const buffer = Buffer.alloc(size - this.walOffset);
    const { bytesRead } = await this.wal!.read(buffer, 0, buffer.length, this.walOffset);
    this.applyLines(buffer.subarray(0, bytesRead).toString('utf8'));
  }

  /** Applies the complete lines of what was read past walOffset; a fragment is left for the next read. */
  private applyLines(text: string): void {
    if (!this.state || text === '') return;
    const { lines, consumed } = splitLines(text);
    this.walOffset += consumed;
    const changes: ChangeEvent[] = [];
    for (const line of lines) {
      if (line === '') continue;
      const value = decodeLine(line);
      if (isHeader(value)) continue;
      if (!isRecord(value)) {
        this.deps.metrics.counter('store.tornRecords').inc();
        continue;
      }
      const change = this.state.apply(value);
      this.readBack?.set(value.n, change ?? null);
      if (change) changes.push(change);
      else this.deps.metrics.counter('store.rejectedRecords').inc();
    }
    if (changes.length && this.loaded) this.deps.onChanges(changes);
  }

  private async rotateIfDue(held: HeldLock): Promise<void> {
    try {
      await this.maybeRotate(held);
    } catch (e) {
      // The log keeps growing until the next write rotates it; nothing acknowledged depends on this.
      this.deps.logger.warn(`Could not rotate the log of namespace ${this.namespace}: ${errorMessage(e)}`);
    }
  }

  /** The log's budget: a byte figure that grows with what the namespace holds, not with one record. */
  private get rotateAt(): number {
    return Math.max(this.logBudget.rotateBytes, this.snapshotBytes * LOG_SHARE_OF_SNAPSHOT);
  }

  /**
   * The floor of what a small namespace's logs may use (the event log's bound and a log per backup), scaled to its
   * share of the store's budget once many namespaces split it (R-SEC-1): 256 namespaces with a key each must not
   * keep 14 MB of history apiece. Few namespaces keep the full figures.
   */
  private get logBudget(): { rotateBytes: number; eventLogBytes: number } {
    const o = this.deps.options;
    const share = o.maxStoreLogBytes / Math.max(1, this.deps.namespaces());
    const scale = Math.min(1, share / (o.maxEventLogBytes + (o.backups + 1) * o.rotateBytes));
    return {
      rotateBytes: Math.max(Math.min(o.rotateBytes, MIN_ROTATE_BYTES), Math.floor(o.rotateBytes * scale)),
      eventLogBytes: Math.floor(o.maxEventLogBytes * scale),
    };
  }

  private rotationDue(walSize = this.walSize): boolean {
    if (walSize >= this.rotateAt) return true;
    // Deletes halved what a large snapshot holds: fold it, so the disk shrinks with what is held.
    return this.snapshotBytes > this.logBudget.rotateBytes && this.state!.liveBytes < this.snapshotLive / 2;
  }

  private async maybeRotate(held: HeldLock): Promise<void> {
    const state = this.state!;
    if (!this.rotationDue()) return;
    await assertRealDirectory(this.dir);
    const next = state.generation + 1;
    const aborted = (): void => this.deps.metrics.counter('store.rotationAborted').inc();
    // CURRENT moved under us: our lock was taken over while we were stopped, and others rotated.
    if ((await this.readCurrent()) !== state.generation) return aborted();
    if (!(await this.clearUncommitted(next))) return aborted();
    // What writers killed while rotating left half made (a temp file is only ever renamed or linked, never read).
    await this.removeTempFiles();
    failpoint('shard.rotate.create');
    // Created, never replaced: a rotator stopped here past the lock's staleness resumes after its taker rotated to
    // `next` and others appended to that log; replacing it would keep their acknowledged lines only in the old inode.
    if (!(await createFileDurable(path.join(this.dir, snapshotName(next)), JSON.stringify(state.toSnapshot(next))))) return aborted();
    const header = encodeLine({ wal: next, baseSeq: state.seq, namespace: this.namespace });
    if (!(await createFileDurable(path.join(this.dir, walName(next)), header))) return aborted();
    // CURRENT's new content is durable before the last check, so only the rename follows it.
    const commit = await prepareReplace(path.join(this.dir, CURRENT), `${next}\n`);
    failpoint('shard.rotate.commit');
    // Nobody rotated, and nobody appended since our state was read: a taker of our lock may have written to this
    // log while we were stopped, and a snapshot without its lines would leave them behind (they follow its baseSeq).
    // And the lock is still the one we made, read last: taken over while we were stopped earlier, by a taker that
    // appended nothing, the next holder may append after this check while we are stopped again, and acknowledge;
    // one who takes it over after this check removes our temp file, and the rename fails.
    if ((await this.readCurrent()) !== state.generation || (await this.wal!.stat()).size !== this.walSize || !(await held.stillOurs())) {
      await commit.discard();
      return aborted();
    }
    failpoint('shard.rotate.rename');
    await commit.commit();
    this.deps.metrics.counter('store.rotations').inc();
    await this.refreshUnlocked();
    await this.prune(next);
  }

  /**
   * Removes what a rotation to `next` left without committing it (it crashed, or stopped and then found CURRENT
   * moved), so it does not block every later rotation. Only files older than LEFTOVER_STALE_FACTOR x staleMs, and
   * CURRENT read again just before: a rotator stopped past staleMs must not take the files of a rotation that
   * committed meanwhile for leftovers. A log there with records is never removed (CURRENT never named it, so nobody
   * should have appended: leave it for whoever looks). False: not now. Caller holds the lock.
   */
  private async clearUncommitted(next: number): Promise<boolean> {
    const files = [snapshotName(next), walName(next)].map((name) => path.join(this.dir, name));
    const found = (await Promise.all(files.map((f) => fs.lstat(f).catch(() => undefined)))).filter((s) => s !== undefined);
    if (found.length === 0) return true;
    if (found.some((s) => Date.now() - s.mtimeMs < LEFTOVER_STALE_FACTOR * this.deps.options.lock.staleMs)) return false;
    if ((await this.readWal(next)).records.length > 0) {
      this.deps.logger.warn(`Namespace ${this.namespace}: ${walName(next)} holds records but CURRENT never named it; not rotating past it`);
      return false;
    }
    if ((await this.readCurrent()) !== next - 1) return false;
    for (const f of files) await fs.rm(f, { force: true });
    this.deps.metrics.counter('store.leftoversRemoved').inc();
    return true;
  }

  /**
   * What a rotation keeps besides the current generation, newest first and
   * all within the folder's budget (DISK_FACTOR times the current snapshot,
   * room left for the current log to grow; for a small namespace, the event
   * log's bound plus a few logs): the logs back to the oldest snapshot that
   * fits (the event log, R-CTX-5, within its bound in `logBudget`, or back to the
   * last `backups` generations), that snapshot, and up to `backups` snapshots
   * in all (R-CTX-4). A large namespace keeps fewer backups: disk use stays
   * proportional to what is held (R-SEC-1).
   */
  private async prune(current: number): Promise<void> {
    const o = this.deps.options;
    const sizeOf = async (file: string): Promise<number | undefined> =>
      (await fs.stat(path.join(this.dir, file)).catch(() => undefined))?.size;
    const gens = (await this.generations()).filter((g) => g < current).sort((a, b) => b - a);
    const older = await Promise.all(
      gens.map(async (g) => ({ g, log: (await sizeOf(walName(g))) ?? 0, snapshot: await sizeOf(snapshotName(g)) })),
    );
    const { rotateBytes, eventLogBytes } = this.logBudget;
    const budget = Math.max(DISK_FACTOR * this.snapshotBytes, eventLogBytes + (o.backups + 1) * rotateBytes);
    const room = budget - this.snapshotBytes - this.rotateAt;
    const currentLog = (await this.wal!.stat()).size;
    // The oldest generation whose snapshot and logs since fit: history and backups start there.
    let start = -1;
    let logs = 0;
    for (let i = 0; i < older.length && older[i]!.g === current - 1 - i; i++) {
      logs += older[i]!.log;
      if (logs > room || (currentLog + logs > eventLogBytes && i >= o.backups)) break;
      const snapshot = older[i]!.snapshot;
      if (snapshot !== undefined && logs + snapshot <= room) start = i;
    }
    const keep = new Set<string>();
    if (start >= 0) {
      let spent = older[start]!.snapshot!;
      for (let i = 0; i <= start; i++) {
        keep.add(walName(older[i]!.g));
        spent += older[i]!.log;
      }
      keep.add(snapshotName(older[start]!.g));
      let backups = 1;
      for (let i = 0; i < start && backups < o.backups; i++) {
        const snapshot = older[i]!.snapshot;
        if (snapshot === undefined || spent + snapshot > room) continue;
        keep.add(snapshotName(older[i]!.g));
        spent += snapshot;
        backups++;
      }
    }
    for (const { g, snapshot } of older) {
      if (!keep.has(walName(g))) {
        await fs.rm(path.join(this.dir, walName(g)), { force: true });
        this.deps.metrics.counter('store.archivesPruned').inc();
      }
      if (snapshot !== undefined && !keep.has(snapshotName(g))) await fs.rm(path.join(this.dir, snapshotName(g)), { force: true });
    }
    await fsyncDir(this.dir);
  }

  private async generations(): Promise<number[]> {
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    return names
      .map((n) => /^wal\.(\d+)\.log$/.exec(n)?.[1])
      .filter((g): g is string => g !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  private async readSnapshot(generation: number): Promise<{ body: SnapshotBody; bytes: number } | undefined> {
    const file = path.join(this.dir, snapshotName(generation));
    let text: string;
    try {
      text = await fs.readFile(file, { encoding: 'utf8', flag: constants.O_RDONLY | NOFOLLOW });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw unsafeOnLoop(e, file);
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (isSnapshotBody(parsed, this.namespace, generation)) return { body: parsed, bytes: Buffer.byteLength(text) };
    } catch {
      // Falls through to the corruption count below.
    }
    this.deps.metrics.counter('store.corruptionDetected').inc();
    this.deps.logger.warn(`Snapshot ${file} is corrupt; restoring from a backup and the log`);
    return undefined;
  }

  /** A log's header and records (`headerOnly`: just the first line, read in a small chunk). */
  private async readWal(generation: number, headerOnly = false): Promise<{ header?: WalHeader; records: WalRecord[] }> {
    const file = path.join(this.dir, walName(generation));
    let text = '';
    try {
      const handle = await fs.open(file, constants.O_RDONLY | NOFOLLOW);
      try {
        if (headerOnly) {
          const buffer = Buffer.alloc(4096);
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
          text = buffer.subarray(0, bytesRead).toString('utf8');
        } else text = await handle.readFile('utf8');
      } finally {
        await handle.close();
      }
    } catch {
      return { records: [] };
    }
    const decoded = splitLines(text).lines.map(decodeLine);
    const header = decoded[0];
    return { ...(isHeader(header) ? { header } : {}), records: headerOnly ? [] : decoded.filter(isRecord) };
  }

  /**
   * The snapshot of `generation` is missing or corrupt: take the newest
   * valid older snapshot and replay the logs from there (or every log from
   * the first), then write the repaired snapshot back.
   */
  private async recover(generation: number): Promise<ShardState> {
    const gens = (await this.generations()).filter((g) => g < generation).sort((a, b) => b - a);
    let state: ShardState | undefined;
    let from = generation;
    for (const g of gens) {
      const snapshot = await this.readSnapshot(g);
      if (snapshot) {
        state = ShardState.fromSnapshot(snapshot.body);
        from = g;
        break;
      }
    }
    if (!state) {
      const oldest = gens.at(-1) ?? generation;
      const base = (await this.readWal(oldest, true)).header?.baseSeq ?? 0;
      state = new ShardState(this.namespace, oldest, base, base);
      from = oldest;
      if (oldest !== 1)
        this.deps.logger.error(
          `Namespace ${this.namespace}: no valid snapshot left; rebuilt from the logs kept, which start at generation ${oldest}`,
        );
    }
    for (let g = from; g < generation; g++) await this.replay(state, g);
    state.generation = generation;
    state.baseSeq = state.seq;
    try {
      await writeFileDurable(path.join(this.dir, snapshotName(generation)), JSON.stringify(state.toSnapshot(generation)));
    } catch (e) {
      this.deps.logger.warn(`Could not write the repaired snapshot of ${this.namespace}: ${errorMessage(e)}`);
    }
    this.deps.metrics.counter('store.recoveries').inc();
    return state;
  }
}

export function newNonce(prefix: string): () => string {
  let n = 0;
  const base = `${prefix}-${randomBytes(3).toString('hex')}`;
  return () => `${base}-${(n++).toString(36)}`;
}
