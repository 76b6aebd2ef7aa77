import { promises as fs } from 'node:fs';
import * as lockfile from 'proper-lockfile';
import { CoordinatorError, errorMessage } from '../../errors.js';
import type { Logger } from '../../logging/logger.js';
import type { Metrics } from '../../metrics/metrics.js';

export interface LockOptions {
  /** A lock not refreshed for this long is taken over (proper-lockfile's minimum is 2 s). */
  staleMs: number;
  /** Give up waiting after this long. */
  timeoutMs: number;
}

/**
 * The cross-process lock of one shard: proper-lockfile on an absolute path
 * with realpath off (its realpath fails on files that do not exist yet),
 * randomised 2-10 ms retries of our own (its defaults throw ELOCKED under
 * contention), and onCompromised that reports instead of throwing into the host. A
 * compromised lock is expected now and then; the shard's own checks keep
 * writes correct when it happens.
 */
export class ShardLock {
  constructor(
    private readonly dir: string,
    private readonly options: LockOptions,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  async acquire(): Promise<() => Promise<void>> {
    const started = performance.now();
    const deadline = Date.now() + this.options.timeoutMs;
    let attempts = 0;
    for (;;) {
      try {
        const release = await lockfile.lock(this.dir, {
          lockfilePath: `${this.dir}/.lock`,
          realpath: false,
          stale: this.options.staleMs,
          retries: 0,
          onCompromised: (e) => {
            this.metrics.counter('store.lock.compromised').inc();
            this.logger.warn(`Lock on ${this.dir} was compromised: ${errorMessage(e)}`);
          },
        });
        const waited = performance.now() - started;
        this.metrics.histogram('store.lock.waitMs').record(waited);
        this.metrics.counter('store.lock.acquisitions').inc();
        if (attempts > 0) this.metrics.counter('store.lock.contended').inc();
        return async () => {
          try {
            await release();
          } catch (e) {
            // Released already because it was compromised: the next holder owns it now.
            this.logger.debug(`Releasing ${this.dir}: ${errorMessage(e)}`);
          }
        };
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // ENOENT with the shard's folder still there: another process judged the lock stale from an older stat and
        // removed it just after we made it (proper-lockfile's takeover race; we then fail its mtime probe). Try again.
        if (code === 'ENOENT' && (await folderExists(this.dir))) this.metrics.counter('store.lock.lostTakeoverRace').inc();
        else if (code !== 'ELOCKED') throw e;
        attempts++;
        this.metrics.counter('store.lock.busy').inc();
        if (Date.now() > deadline) {
          this.metrics.counter('store.lock.timeouts').inc();
          throw new CoordinatorError(
            'LockTimeout',
            `Waited ${this.options.timeoutMs} ms for the lock on ${this.dir}; another process holds it`,
            { path: this.dir },
          );
        }
        // 2-10 ms: shorter tries cost every waiting process a mkdir and a stat each time, for nothing (measured in the
        // store bench: waking waiters on the lock folder's watch events tripled those tries and cost more than it saved).
        await new Promise((r) => setTimeout(r, 2 + Math.random() * 8));
      }
    }
  }
}

function folderExists(dir: string): Promise<boolean> {
  return fs.stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
}
