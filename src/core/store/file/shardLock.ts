import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { CoordinatorError, errorMessage } from '../../errors.js';
import type { Logger } from '../../logging/logger.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { Look, LookRequest, ShardIo } from './shardIo.js';

export interface LockOptions {
  /** A lock whose folder's mtime is older than this is taken over (its holder was killed or stopped). */
  staleMs: number;
  /** Give up waiting after this long. */
  timeoutMs: number;
}

/** This process's part of every lock token: with a count, no two holds anywhere write the same. */
const PROCESS_TOKEN = `${process.pid}.${randomBytes(6).toString('hex')}`;
let holds = 0;

/** How long one call may wait for the lock before the event loop gets a turn (blocking: the whole process waits). */
const WAIT_SLICE_MS = { blocking: 5, worker: 25, async: 25 } as const;

/**
 * The cross-process lock of one shard: the file `<shard>/.lock`, made with
 * O_EXCL (atomic on every local file system), its mtime refreshed (at
 * most staleMs / 2 apart) while held, taken over once older than staleMs: proper-lockfile's
 * rules on a file instead of a folder, because on ext4 an rmdir costs ten
 * times an unlink, and more while others fdatasync (ARCHITECTURE.md). A folder of that
 * name (proper-lockfile, an older version) is held and taken over the same
 * way, so the two still exclude each other. Its steps are shardIo.ts's, and a
 * blocking waiter retries within a millisecond of a release. A lock taken over
 * (a holder stopped past staleMs) is expected now and then; the shard's own
 * checks keep writes correct when it happens.
 */
export class ShardLock {
  readonly lockFile: string;
  /** The holds of this lock not released yet, with when each began: one timer refreshes the long ones. */
  private readonly holding = new Map<HeldLock, number>();
  private refresher: NodeJS.Timeout | undefined;

  constructor(
    private readonly dir: string,
    private readonly options: LockOptions,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly io: ShardIo,
  ) {
    this.lockFile = path.join(dir, '.lock');
  }

  /** Takes the lock and, in the same step, looks at the log (`look`: what to look at). */
  async acquire(look: LookRequest = { current: path.join(this.dir, 'CURRENT'), fd: -1, offset: 0 }): Promise<HeldLock> {
    const started = performance.now();
    // The monotonic clock: a wall clock stepped back would stretch the wait, and
    // Date.now's whole milliseconds ended it up to 1 ms early (a CI flake).
    const deadline = started + this.options.timeoutMs;
    let busy = 0;
    const token = `${PROCESS_TOKEN}.${++holds}`;
    for (;;) {
      const remaining = deadline - performance.now();
      let got;
      try {
        got = await this.io.lock({
          ...look,
          lockFile: this.lockFile,
          staleMs: this.options.staleMs,
          waitMs: Math.max(0, Math.min(WAIT_SLICE_MS[this.io.mode], remaining)),
          token,
        });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'UNSAFE_LOCK')
          throw new CoordinatorError(
            'UnsafeStorePath',
            `Refusing to use ${this.lockFile}: it is neither a file nor a folder (a link?); remove it`,
            {
              path: this.lockFile,
            },
          );
        throw e;
      }
      busy += got.locked ? got.tries - 1 : got.tries;
      if (got.locked) {
        this.metrics.histogram('store.lock.waitMs').record(performance.now() - started);
        this.metrics.counter('store.lock.acquisitions').inc();
        if (busy > 0) {
          this.metrics.counter('store.lock.contended').inc();
          this.metrics.counter('store.lock.busy').inc(busy);
        }
        if (got.tookOver) {
          this.metrics.counter('store.lock.takeovers').inc();
          this.logger.warn(`Took over the lock on ${this.dir}: its holder stopped refreshing it for ${this.options.staleMs} ms`);
        }
        const held = new HeldLock(this.lockFile, token, got.look, got.tookOver, this.io, this.metrics, this.logger, () =>
          this.holding.delete(held),
        );
        this.hold(held);
        return held;
      }
      if (performance.now() >= deadline) {
        this.metrics.counter('store.lock.busy').inc(busy);
        this.metrics.counter('store.lock.timeouts').inc();
        // The holder's token begins with its pid: a person can look at what holds it that long.
        const holder = /^(\d+)\./.exec(await fs.readFile(this.lockFile, 'utf8').catch(() => ''))?.[1];
        throw new CoordinatorError(
          'LockTimeout',
          `Waited ${this.options.timeoutMs} ms for the lock on ${this.dir}; ${holder ? `process ${holder}` : 'another process'} holds it`,
          {
            path: this.dir,
            ...(holder ? { holderPid: Number(holder) } : {}),
          },
        );
      }
      // A blocking wait gave nobody else a turn: let the event loop run before the next slice.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /**
   * Keeps a hold fresh while it lasts. Most last a millisecond; a long one (a
   * rotation, a slow disk, a kept lock) is refreshed within staleMs / 2 of
   * being taken, then every staleMs / 4. One timer per lock, running while
   * it is held (a timer per hold cost each write ~15 µs, issue 11).
   */
  private hold(held: HeldLock): void {
    this.holding.set(held, performance.now());
    if (this.refresher) return;
    const every = this.options.staleMs / 4;
    this.refresher = setInterval(() => {
      if (this.holding.size === 0) {
        clearInterval(this.refresher);
        this.refresher = undefined;
        return;
      }
      const now = performance.now();
      for (const [lock, since] of this.holding) if (now - since >= every) lock.touch();
    }, every);
    this.refresher.unref();
  }
}

/** A lock this process holds: refreshed while held (by its ShardLock), released once. */
export class HeldLock {
  private released = false;

  constructor(
    readonly lockFile: string,
    /** What this hold wrote into the lock file. */
    private readonly token: string,
    /** What the log looked like the moment the lock was taken. */
    readonly look: Look,
    /** Taken from a holder that stopped refreshing it (it may be alive, stopped, and go on later). */
    readonly tookOver: boolean,
    private readonly io: ShardIo,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly onSettled: () => void,
  ) {}

  /** Tells other processes it is still held: its mtime is now. */
  touch(): void {
    if (this.released) return;
    const now = new Date();
    fs.utimes(this.lockFile, now, now).catch((e: unknown) => this.logger.debug(`Refreshing ${this.lockFile}: ${errorMessage(e)}`));
  }

  /**
   * Whether the lock file is still the one this hold made: false once another process took it over (we were stopped
   * past staleMs), whatever happened since. For a step that must not happen after that (a rotation's commit); a
   * stop right after this answer is the caller's to handle.
   */
  async stillOurs(): Promise<boolean> {
    if (this.released) return false;
    return (await fs.readFile(this.lockFile, 'utf8').catch(() => '')) === this.token;
  }

  /** The I/O thread released it as part of a commit; `ours` is what it found. */
  releasedBy(ours: boolean | undefined): void {
    if (ours === undefined) return;
    this.settle(ours);
  }

  /** Whether it is still ours is unknown (a commit asked to release it and failed midway): leave it to go stale. */
  abandon(): void {
    if (this.released) return;
    this.released = true;
    this.onSettled();
    this.metrics.counter('store.lock.abandoned').inc();
  }

  async release(): Promise<void> {
    if (this.released) return;
    let ours = false;
    try {
      ours = await this.io.unlock(this.lockFile);
    } catch (e) {
      this.logger.debug(`Releasing ${this.lockFile}: ${errorMessage(e)}`);
    }
    this.settle(ours);
  }

  private settle(ours: boolean): void {
    if (this.released) return;
    this.released = true;
    this.onSettled();
    // Gone already: another process judged it stale and took it over while we held it.
    if (!ours) this.metrics.counter('store.lock.compromised').inc();
  }
}
