import { Redis, type RedisOptions } from 'ioredis';
import { CoordinatorError, errorMessage } from '../../errors.js';
import type { Logger } from '../../logging/logger.js';
import type { Metrics } from '../../metrics/metrics.js';
import { connectionOptions, type RedisTarget } from './redisUrl.js';
import { ACQUIRE_LUA, END_CLAIM_LUA, LIST_CLAIMS_LUA, RELEASE_OF_LUA, TRANSFER_CLAIM_LUA, WRITE_LUA } from './scripts.js';

/** The Redis features we rely on: XTRIM MINID and exclusive XRANGE ranges. */
const MIN_REDIS_VERSION = [6, 2];

/** ioredis' refusal of a command it did not send (no offline queue, socket not writable). */
const NOT_SENT = /Stream isn't writeable|enableOfflineQueue/;

interface ScriptCommands {
  scWrite(...args: Array<string | number>): Promise<[string, number?, number?, number?, string?]>;
  scAcquire(...args: Array<string | number>): Promise<string[]>;
  scEndClaim(...args: Array<string | number>): Promise<[string, (string | number)?]>;
  scTransfer(...args: Array<string | number>): Promise<[string, (string | number)?, string?]>;
  scReleaseOf(...args: Array<string | number>): Promise<number>;
  scListClaims(...args: Array<string | number>): Promise<Array<string | number>>;
}
/** The command connection, with the store's scripts as commands. */
export type ScriptClient = Redis & ScriptCommands;

export interface RedisConnectionDeps {
  readonly target: RedisTarget;
  /** `redis://host:port/db`, never with the password: what errors and logs name. */
  readonly targetText: string;
  /** What error details name as the store's location. */
  readonly location: string;
  /** Wins over the URL's password. Never logged. */
  readonly password?: string;
  readonly connectionName: string;
  /** The pub/sub channel subscribed on every (re)connect; follow() adds others. */
  readonly channel: string;
  readonly commandTimeoutMs: number;
  readonly retryMaxDelayMs: number;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** The first time both connections are up and subscribed: the store reads where its change feed starts. */
  readonly onFirstSync: () => Promise<void>;
  /** Every later reconnect: the store reads back what pub/sub missed. */
  readonly onResync: () => Promise<void>;
  /** Connected or not changed (the panel and status re-read on it). */
  readonly onConnectedChange: () => void;
  readonly onMessage: (message: string) => void;
}

/**
 * The two connections of a Redis store (commands, and pub/sub) and what
 * state they are in: no offline queue and no resend (nothing is
 * acknowledged that Redis did not answer), reconnects with backoff,
 * a resubscribe and catch-up after each, and one translation of client
 * errors into StoreUnavailable that says whether anything was written.
 */
export class RedisConnection {
  readonly main: ScriptClient;
  private readonly sub: Redis;
  private initialized = false;
  private subscribed = false;
  private connectedNow = false;
  private everConnected = false;
  private closed = false;
  private resyncing: Promise<void> | undefined;
  private resyncAgain = false;
  private lastError = 'not connected yet';
  private downSince: number | undefined = Date.now();
  /** A server we cannot work with (too old): every call fails with this. */
  private fatal: string | undefined;
  /** Channels and patterns beyond `channel` that are wanted now (follow), subscribed again on every reconnect. */
  private readonly followed = { channels: new Set<string>(), patterns: new Set<string>() };
  private firstSync!: () => void;
  private readonly firstSynced = new Promise<void>((resolve) => (this.firstSync = resolve));

  constructor(private readonly deps: RedisConnectionDeps) {
    const common: RedisOptions = {
      ...connectionOptions(deps.target, deps.password),
      // RESP2: the same reply shapes from every server version we support.
      protocol: 2,
      // Never queue a command while disconnected, never resend one whose reply was lost:
      // a write is acknowledged only when Redis answered it (the caller sees StoreUnavailable otherwise).
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      // ioredis waits 2 s for a stream that never opened before closing: a CLI without Redis would linger.
      disconnectTimeout: 200,
      maxRetriesPerRequest: 0,
      enableReadyCheck: true,
      connectTimeout: Math.max(1000, deps.commandTimeoutMs),
      commandTimeout: deps.commandTimeoutMs,
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), deps.retryMaxDelayMs) + Math.floor(Math.random() * 50),
      connectionName: deps.connectionName,
    };
    this.main = new Redis({
      ...common,
      scripts: {
        scWrite: { lua: WRITE_LUA, numberOfKeys: 4 },
        scAcquire: { lua: ACQUIRE_LUA, numberOfKeys: 2 },
        scEndClaim: { lua: END_CLAIM_LUA, numberOfKeys: 2 },
        scTransfer: { lua: TRANSFER_CLAIM_LUA, numberOfKeys: 2 },
        scReleaseOf: { lua: RELEASE_OF_LUA, numberOfKeys: 2 },
        scListClaims: { lua: LIST_CLAIMS_LUA, numberOfKeys: 1 },
      },
    }) as ScriptClient;
    // Subscribed explicitly on every (re)connect, then caught up from the streams: no message is missed.
    this.sub = new Redis({ ...common, autoResubscribe: false, commandTimeout: undefined });
    for (const client of [this.main, this.sub]) {
      let erred = false;
      client.on('error', (e: Error) => {
        erred = true;
        this.lastError = e.message;
      });
      client.on('ready', () => {
        erred = false;
        void this.resync();
      });
      client.on('close', () => {
        // A clean close emits no error: say what happened until a reconnect attempt says more.
        if (!erred && !this.closed) this.lastError = `the connection to ${deps.targetText} was lost`;
        if (client === this.sub) this.subscribed = false;
        this.updateConnected();
      });
    }
    this.sub.on('message', (_channel: string, message: string) => deps.onMessage(message));
    this.sub.on('pmessage', (_pattern: string, _channel: string, message: string) => deps.onMessage(message));
  }

  /**
   * Subscribes to one more channel (or pattern) until unfollow(); resolved
   * once Redis confirmed it, or at once while disconnected (the reconnect
   * subscribes it, then the store catches up from the streams).
   */
  async follow(name: string, pattern = false): Promise<void> {
    const set = pattern ? this.followed.patterns : this.followed.channels;
    if (set.has(name)) return;
    set.add(name);
    if (!this.subscribed) return;
    await (pattern ? this.sub.psubscribe(name) : this.sub.subscribe(name)).catch((e: unknown) => this.noteError(e));
  }

  async unfollow(name: string, pattern = false): Promise<void> {
    const set = pattern ? this.followed.patterns : this.followed.channels;
    if (!set.delete(name) || !this.subscribed) return;
    await (pattern ? this.sub.punsubscribe(name) : this.sub.unsubscribe(name)).catch((e: unknown) => this.noteError(e));
  }

  /** Both connections up, subscribed and caught up. */
  get connected(): boolean {
    return this.connectedNow;
  }

  get ready(): boolean {
    return this.main.status === 'ready';
  }

  /** Waits up to `ms` for the first sync; throws if the server is one we cannot work with. */
  async firstSyncWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const synced = await Promise.race([
      this.firstSynced.then(() => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms))),
    ]).finally(() => clearTimeout(timer));
    if (this.fatal) throw new CoordinatorError('StoreUnavailable', this.fatal, { location: this.deps.location });
    return synced;
  }

  /** Why the store is not connected, or since when, for a person. */
  get reason(): string {
    return this.lastError;
  }

  noteError(e: unknown): void {
    this.lastError = errorMessage(e);
  }

  /**
   * Runs one Redis exchange. Unreachable: fails at once, nothing sent.
   * No answer (connection lost, timeout): fails saying the outcome is unknown.
   */
  async run<T>(kind: 'read' | 'write', what: string, work: () => Promise<T>): Promise<T> {
    const { location, targetText, metrics } = this.deps;
    if (this.closed) throw new CoordinatorError('StoreUnavailable', 'The shared store is closed', {});
    if (this.fatal) throw new CoordinatorError('StoreUnavailable', this.fatal, { location });
    const refused = (reason: string): CoordinatorError => {
      metrics.counter('store.unavailable').inc();
      return new CoordinatorError(
        'StoreUnavailable',
        `The shared store (Redis at ${targetText}) is unreachable: ${reason}. Nothing was ${kind === 'write' ? 'written' : 'read'}; it reconnects by itself, retry shortly`,
        { location, kind, reason },
      );
    };
    if (this.main.status !== 'ready') throw refused(this.lastError);
    try {
      return await work();
    } catch (e) {
      if (e instanceof CoordinatorError) throw e;
      const message = errorMessage(e);
      // The socket was closing: ioredis refused the command before sending it.
      if (NOT_SENT.test(message)) throw refused(this.lastError);
      metrics.counter('store.unavailable').inc();
      throw new CoordinatorError(
        'StoreUnavailable',
        kind === 'write'
          ? `Redis at ${targetText} did not confirm the write of ${what} (${message}); it may or may not have been applied: read it back before retrying`
          : `Redis at ${targetText} did not answer reading ${what} (${message}); retry shortly`,
        { location, kind, reason: message },
      );
    }
  }

  unavailableReason(): string {
    if (this.fatal) return this.fatal;
    const since = this.downSince ? ` since ${new Date(this.downSince).toISOString()}` : '';
    const target = this.deps.targetText;
    if (this.main.status === 'ready')
      return `change notifications from Redis at ${target} are interrupted${since} (${this.lastError}); reconnecting, missed changes are read back from the event log`;
    return `Redis at ${target} is unreachable${since} (${this.lastError}); reconnecting with backoff, reads and writes are refused until it is back`;
  }

  /** Runs `leave` (best effort, at most a second) while still connected, then closes both connections. */
  async close(leave: (main: ScriptClient) => Promise<unknown>): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.main.status === 'ready') await within(leave(this.main), 1000);
    for (const client of [this.sub, this.main]) {
      if (client.status === 'ready') await within(client.quit(), 1000);
      client.disconnect();
    }
  }

  private updateConnected(): void {
    const now =
      !this.closed && this.main.status === 'ready' && this.sub.status === 'ready' && this.subscribed && this.initialized && !this.fatal;
    if (now === this.connectedNow) return;
    this.connectedNow = now;
    const target = this.deps.targetText;
    if (now) {
      if (this.downSince !== undefined && this.everConnected)
        this.deps.logger.info(`Redis at ${target} is back after ${Date.now() - this.downSince} ms`);
      this.downSince = undefined;
      this.everConnected = true;
    } else {
      this.downSince = Date.now();
      if (!this.closed) {
        this.deps.metrics.counter('store.redis.disconnects').inc();
        this.deps.logger.warn(`Lost the connection to Redis at ${target} (${this.lastError}); reconnecting with backoff`);
      }
    }
    if (!this.closed) this.deps.onConnectedChange();
  }

  /** After each (re)connect: subscribe, then read what pub/sub may have missed. */
  private async resync(): Promise<void> {
    if (this.resyncing) {
      this.resyncAgain = true;
      return this.resyncing;
    }
    this.resyncing = (async () => {
      do {
        this.resyncAgain = false;
        if (this.closed || this.main.status !== 'ready' || this.sub.status !== 'ready') break;
        try {
          if (!this.initialized) await this.checkServer();
          const channels = [...this.followed.channels];
          const patterns = [...this.followed.patterns];
          await this.sub.subscribe(this.deps.channel, ...channels);
          if (patterns.length > 0) await this.sub.psubscribe(...patterns);
          this.subscribed = true;
          // Followed while those were on their way: subscribed now (one unfollowed meanwhile only brings messages the feed drops).
          const late = [...this.followed.channels].filter((c) => !channels.includes(c));
          const latePatterns = [...this.followed.patterns].filter((p) => !patterns.includes(p));
          if (late.length > 0) await this.sub.subscribe(...late);
          if (latePatterns.length > 0) await this.sub.psubscribe(...latePatterns);
          if (!this.initialized) {
            await this.deps.onFirstSync();
            this.initialized = true;
            this.updateConnected();
            this.firstSync();
          } else {
            this.updateConnected();
            await this.deps.onResync();
          }
        } catch (e) {
          this.lastError = errorMessage(e);
          if (this.fatal) this.firstSync();
        }
      } while (this.resyncAgain);
    })().finally(() => (this.resyncing = undefined));
    return this.resyncing;
  }

  private async checkServer(): Promise<void> {
    const info = await this.main.info('server');
    const version = /redis_version:(\d+)\.(\d+)/.exec(info);
    if (!version) return;
    const [major, minor] = [Number(version[1]), Number(version[2])];
    if (major < MIN_REDIS_VERSION[0]! || (major === MIN_REDIS_VERSION[0] && minor < MIN_REDIS_VERSION[1]!)) {
      this.fatal = `Redis at ${this.deps.targetText} is version ${major}.${minor}; the shared store needs ${MIN_REDIS_VERSION.join('.')} or newer`;
      throw new Error(this.fatal);
    }
  }
}

/** Waits for `work` at most `ms`, ignoring its outcome; the timer never keeps the process alive. */
async function within(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => undefined), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}
