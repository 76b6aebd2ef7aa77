import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { CoordinatorError, errorMessage } from '../errors.js';
import type { Metrics } from '../metrics/metrics.js';

export interface RootResolverOptions {
  /** A hung network mount must not stall the host: give up after this long. */
  timeoutMs: number;
  /** Resolved roots are re-checked after this long (a symlink may be re-pointed). */
  cacheTtlMs: number;
}

interface CacheEntry {
  promise: Promise<string>;
  generation: number;
  expiresAt: number;
}

/**
 * Turns a requested project root into a real path inside an allowed root
 * (workspace folders plus explicitly allowed paths), or a CoordinatorError
 * that names the path. Resolution is async, time-bounded and cached; the
 * cache is invalidated whenever the allowed roots change (R-ROOT-1, R-ROOT-2).
 */
export class RootResolver {
  private allowed: readonly string[] = [];
  private generation = 0;
  private allowedReal: { generation: number; promise: Promise<string[]> } | undefined;
  private readonly cache = new Map<string, CacheEntry>();

  constructor(
    private readonly metrics: Metrics,
    private readonly options: RootResolverOptions,
    allowedRoots: readonly string[] = [],
  ) {
    this.setAllowedRoots(allowedRoots);
  }

  get allowedRoots(): readonly string[] {
    return this.allowed;
  }

  setAllowedRoots(roots: readonly string[]): void {
    this.allowed = roots.map((r) => path.resolve(r));
    this.generation++;
    this.allowedReal = undefined;
    this.cache.clear();
  }

  /** The first allowed root that exists: where a session with no declared root works. */
  async defaultRoot(): Promise<string> {
    const real = await this.realAllowedRoots();
    const first = real[0];
    if (first === undefined) {
      throw new CoordinatorError(
        'NoWorkspaceRoot',
        this.allowed.length === 0
          ? 'No workspace folder is open and no allowed root is configured: open a folder or pass --workspace.'
          : `None of the workspace roots exists: ${this.allowed.join(', ')}`,
        { allowedRoots: this.allowed },
      );
    }
    return first;
  }

  async resolve(requested: string): Promise<string> {
    const key = path.resolve(this.allowed[0] ?? process.cwd(), requested);
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && hit.generation === this.generation && hit.expiresAt > now) {
      this.metrics.counter('roots.cacheHits').inc();
      return hit.promise;
    }
    this.metrics.counter('roots.cacheMisses').inc();
    if (hit && hit.generation !== this.generation) this.metrics.counter('roots.doubleLoads').inc();
    const generation = this.generation;
    const promise = this.load(requested, key);
    const entry: CacheEntry = { promise, generation, expiresAt: now + this.options.cacheTtlMs };
    this.cache.set(key, entry);
    promise.catch(() => {
      // Failures are not cached: a folder created a moment later must work.
      if (this.cache.get(key) === entry) this.cache.delete(key);
    });
    return promise;
  }

  private async load(requested: string, absolute: string): Promise<string> {
    const real = await this.realpath(absolute, requested);
    const stat = await this.withTimeout(fs.stat(real), requested);
    if (!stat.isDirectory()) {
      throw new CoordinatorError('RootNotDirectory', `Project root is not a directory: ${requested}`, { path: requested, resolved: real });
    }
    const roots = await this.realAllowedRoots();
    if (!roots.some((root) => real === root || real.startsWith(root.endsWith(path.sep) ? root : root + path.sep))) {
      throw new CoordinatorError(
        'RootOutsideWorkspace',
        `Project root ${requested} resolves to ${real}, which is outside the workspace (${roots.join(', ') || 'no workspace folder'})`,
        { path: requested, resolved: real, allowedRoots: roots },
      );
    }
    return real;
  }

  private realAllowedRoots(): Promise<string[]> {
    if (this.allowedReal?.generation !== this.generation) {
      const generation = this.generation;
      const promise = Promise.all(
        this.allowed.map((root) =>
          this.realpath(root, root).then(
            (r) => r,
            () => undefined,
          ),
        ),
      ).then((list) => list.filter((r): r is string => r !== undefined));
      this.allowedReal = { generation, promise };
    }
    return this.allowedReal.promise;
  }

  private async realpath(absolute: string, requested: string): Promise<string> {
    try {
      return await this.withTimeout(fs.realpath(absolute), requested);
    } catch (e) {
      if (e instanceof CoordinatorError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        throw new CoordinatorError('RootNotFound', `Project root does not exist: ${requested}`, { path: requested });
      }
      throw new CoordinatorError('RootNotFound', `Project root cannot be resolved: ${requested} (${errorMessage(e)})`, {
        path: requested,
        cause: code,
      });
    }
  }

  private withTimeout<T>(work: Promise<T>, requested: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.metrics.counter('roots.timeouts').inc();
        reject(
          new CoordinatorError(
            'RootResolutionTimeout',
            `Resolving project root ${requested} took longer than ${this.options.timeoutMs} ms`,
            {
              path: requested,
              timeoutMs: this.options.timeoutMs,
            },
          ),
        );
      }, this.options.timeoutMs);
    });
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  }
}
