import { Mutex } from 'async-mutex';
import type { Metrics } from '../metrics/metrics.js';

/**
 * One mutex per key, created on demand and dropped when nobody holds or
 * waits for it, so unrelated keys never wait on each other (R-SES-3).
 * Records lock wait time and how often a caller had to wait.
 */
export class KeyedMutex {
  private readonly locks = new Map<string, { mutex: Mutex; users: number }>();

  constructor(
    private readonly metrics: Metrics,
    private readonly name: string,
  ) {}

  get size(): number {
    return this.locks.size;
  }

  async run<T>(key: string, work: () => Promise<T> | T): Promise<T> {
    let entry = this.locks.get(key);
    if (!entry) this.locks.set(key, (entry = { mutex: new Mutex(), users: 0 }));
    entry.users++;
    const contended = entry.mutex.isLocked();
    const started = performance.now();
    this.metrics.counter(`${this.name}.acquisitions`).inc();
    if (contended) this.metrics.counter(`${this.name}.contended`).inc();
    try {
      return await entry.mutex.runExclusive(() => {
        this.metrics.histogram(`${this.name}.waitMs`).record(performance.now() - started);
        return work();
      });
    } finally {
      if (--entry.users === 0) this.locks.delete(key);
    }
  }
}
