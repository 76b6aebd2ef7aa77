import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import { DisposableStore, type Disposable } from '../../lifecycle/disposable.js';
import { Emitter } from '../../lifecycle/emitter.js';
import { every } from '../../lifecycle/every.js';
import { historyPage, type HistoryOptions } from '../rules/history.js';
import { CoordinatorError, errorMessage } from '../../errors.js';
import { claimConflict, claimKey, holderKey, notTheHolder } from '../rules/claims.js';
import { checkDelta, checkValue, incremented, MESSAGES_NAMESPACE, otherWorktree, toClaim, versionConflict } from '../rules/decisions.js';
import {
  DEFAULT_STORE_QUOTAS,
  tooManyBytes,
  tooManyNamespaces,
  validateKey,
  validateNamespace,
  type StoreQuotas,
} from '../rules/limits.js';
import type { AcrossWorktrees, Actor, Claim, ControlRequest, Grant, HolderFilter, ParticipantInfo, ParticipantSession } from '../actors.js';
import type { ChangeEvent, HistoryPage, SetOptions, SharedStore, StoreDeps, StoredValue, StoreEvent, StoreStatus } from '../sharedStore.js';
import { ALL_NAMESPACES, ChangeInterest } from '../changeInterest.js';
import { validateProjectId } from './projectId.js';
import { describeTarget, parseRedisUrl } from './redisUrl.js';
import { RedisConnection, type ScriptClient } from './redisConnection.js';
import { RedisPresence } from './redisPresence.js';
import { RedisChangeFeed } from './redisChangeFeed.js';
import { encodeNotification, Keys, parseEntry, PRESENCE_NOTE, toStored, type ParsedEntry } from './wireFormat.js';

export interface RedisStoreOptions extends StoreQuotas {
  heartbeatMs: number;
  /** A participant whose presence key has not been refreshed for this long is gone (its key expired). */
  goneAfterMs: number;
  /** The event log of each namespace is trimmed to this many bytes of records (R-CTX-5). */
  maxEventLogBytes: number;
  /** How long open() waits for a first connection before returning a degraded store that keeps retrying. */
  connectWaitMs: number;
  /** A command Redis does not answer in this time fails with StoreUnavailable. */
  commandTimeoutMs: number;
  /** Reconnect backoff: 50 ms doubling up to this, plus jitter. */
  retryMaxDelayMs: number;
}

export const DEFAULT_REDIS_STORE_OPTIONS: RedisStoreOptions = {
  heartbeatMs: 1000,
  goneAfterMs: 3000,
  maxEventLogBytes: 10 * 1024 * 1024,
  connectWaitMs: 5000,
  commandTimeoutMs: 5000,
  retryMaxDelayMs: 2000,
  ...DEFAULT_STORE_QUOTAS,
};

export interface RedisStoreDeps extends StoreDeps {
  /** `redis://[[user]:password@]host[:port][/db]` or `rediss://...` (TLS). */
  url: string;
  /** Namespaces every key: the same on every machine that works on the project. */
  projectId: string;
  /** Wins over the URL's password (a secret kept in SecretStorage). Never logged. */
  password?: string;
  options?: Partial<RedisStoreOptions>;
}

/** How many keys' last writes update() remembers. */
const REMEMBERED_WRITES = 256;
const rememberedKey = (ns: string, key: string): string => `${ns}\n${key}`;

/**
 * The shared store on Redis (R-CTX-9): the same contract and rules as the
 * file store, for teams whose agents run on several machines. Each write is
 * one Lua script (compare-and-set, change record on a stream, pub/sub
 * notification); claims are one script each; presence is a key with an
 * expiry per participant. While Redis is unreachable every read and write
 * fails at once with StoreUnavailable (no offline queue: nothing is
 * acknowledged that Redis did not accept), status() says so, and the client
 * reconnects with backoff by itself.
 */
export class RedisStore implements SharedStore {
  readonly participantId: string;
  readonly projectId: string;
  /** `redis://host:port/db (project <id>)`: what status() shows, never with the password. */
  readonly location: string;
  /** `redis://host:port/db`, never with the password. */
  private readonly target: string;
  private readonly options: RedisStoreOptions;
  private readonly keys: Keys;
  private readonly conn: RedisConnection;
  private readonly events = new Emitter<StoreEvent>((e) => this.deps.logger.warn(`A store listener failed: ${errorMessage(e)}`));
  readonly onEvent = this.events.event;

  /** Heartbeat and sweep: stopped together. */
  private readonly background = new DisposableStore();
  private readonly presence: RedisPresence;
  private readonly feed: RedisChangeFeed;
  private disposed = false;
  /** The last entry this participant wrote per namespace and key (update's first guess), least recently written first. */
  private readonly lastWritten = new Map<string, ParsedEntry>();
  /** What status() answers from while Redis is away. */
  private lastStatus: Pick<StoreStatus, 'namespaces' | 'eventLogBytes'> = { namespaces: [], eventLogBytes: 0 };
  /** Which namespaces' changes are subscribed: the `_` ones on the project's channel, a context one while watched. */
  private readonly interest = new ChangeInterest({
    first: (name) => {
      // Subscribed first, then read: nothing written in between is missed (the feed drops what it already has).
      void this.conn.follow(...this.subscriptionFor(name)).then(() => this.feed.catchUp());
    },
    last: (name) => void this.conn.unfollow(...this.subscriptionFor(name)),
  });

  private constructor(private readonly deps: RedisStoreDeps) {
    this.options = { ...DEFAULT_REDIS_STORE_OPTIONS, ...deps.options };
    this.projectId = validateProjectId(deps.projectId);
    const target = parseRedisUrl(deps.url);
    const targetText = describeTarget(target);
    this.target = targetText;
    this.location = `${targetText} (project ${this.projectId})`;
    this.keys = new Keys(this.projectId);
    this.participantId = `${os.hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.conn = new RedisConnection({
      target,
      targetText,
      location: this.location,
      password: deps.password,
      connectionName: `session-coordinator:${this.participantId}`,
      channel: this.keys.channel,
      commandTimeoutMs: this.options.commandTimeoutMs,
      retryMaxDelayMs: this.options.retryMaxDelayMs,
      metrics: deps.metrics,
      logger: deps.logger,
      onFirstSync: async () => this.feed.begin(await this.conn.main.hgetall(this.keys.meta)),
      onResync: async () => {
        await this.feed.catchUp();
        this.emit({ kind: 'claims' });
        this.emit({ kind: 'presence' });
      },
      // Not a presence change as such, but the panel and status re-read on it.
      onConnectedChange: () => this.emit({ kind: 'presence' }),
      onMessage: (message) => this.feed.onMessage(message),
    });
    this.feed = new RedisChangeFeed({
      participantId: this.participantId,
      main: this.conn.main,
      keys: this.keys,
      emit: (event) => this.emit(event),
      wants: (ns) => this.interest.wants(ns),
      disposed: () => this.disposed,
      metrics: deps.metrics,
      logger: deps.logger,
    });
    this.presence = new RedisPresence({
      participantId: this.participantId,
      participant: deps.participant,
      goneAfterMs: this.options.goneAfterMs,
      main: this.conn.main,
      keys: this.keys,
      connected: () => this.conn.connected,
      run: (what, work) => this.conn.run('write', what, work),
      releaseClaimsOf: (holder) => this.releaseClaimsOf(holder),
      metrics: deps.metrics,
      logger: deps.logger,
    });
  }

  /**
   * A context namespace's changes come on its own channel, subscribed while
   * watched here (every namespace: one pattern); what was written meanwhile
   * is read from its stream at once, as the file store reads its log.
   */
  watchChanges(namespace?: string): Disposable {
    return this.interest.watch(namespace);
  }

  /** The channel (or, for every namespace, the pattern) a watch of `name` subscribes to. */
  private subscriptionFor(name: string): [string, boolean] {
    return name === ALL_NAMESPACES ? [this.keys.allChanges, true] : [this.keys.changes(name), false];
  }

  /**
   * Connects (waiting up to connectWaitMs) and starts the heartbeat. A Redis
   * that is not reachable yet gives a degraded store that connects by itself
   * later; a bad URL or a Redis too old for the store throws.
   */
  static async open(deps: RedisStoreDeps): Promise<RedisStore> {
    const store = new RedisStore(deps);
    try {
      await store.start();
    } catch (e) {
      await store.dispose();
      throw e;
    }
    return store;
  }

  private async start(): Promise<void> {
    const synced = await this.conn.firstSyncWithin(this.options.connectWaitMs);
    if (synced) await this.heartbeat([]);
    else
      this.deps.logger.warn(
        `Redis at ${this.target} is not reachable yet (${this.conn.reason}); the shared store is degraded and keeps retrying`,
      );
    this.every(this.options.heartbeatMs, () => this.presence.beat());
    const m = this.deps.metrics;
    m.gauge('store.redis.connected', () => (this.conn.connected ? 1 : 0));
  }

  async get(namespace: string, key: string): Promise<StoredValue | undefined> {
    validateKey(key);
    const ns = validateNamespace(namespace);
    const raw = await this.conn.run('read', `${ns}/${key}`, () => this.conn.main.hget(this.keys.kv(ns), key));
    return raw === null ? undefined : toStored(parseEntry(raw));
  }

  async set(namespace: string, key: string, value: unknown, by: Actor, options?: SetOptions): Promise<StoredValue> {
    validateKey(key);
    checkValue(value, key);
    const ns = validateNamespace(namespace);
    const expected = options?.expectedVersion;
    const r = await this.write(ns, key, 'set', expected === undefined ? 'none' : 'visible', expected ?? 0, JSON.stringify(value), by);
    if (r[0] === 'conflict') throw versionConflict(ns, key, expected!, Number(r[1]));
    this.deps.metrics.counter('store.contextWrites').inc();
    return { value, version: Number(r[1]), updatedAt: Number(r[2]), updatedBy: by };
  }

  /**
   * Read-modify-write by optimistic concurrency: read the entry, run `fn`
   * here, write only if the key is still at the version read (one script),
   * else read again. `fn` may therefore run more than once; no update is lost.
   * (WATCH/MULTI would need a connection per update: WATCH is per connection.)
   */
  async update(namespace: string, key: string, fn: (current: StoredValue | undefined) => unknown, by: Actor): Promise<StoredValue> {
    return this.updateIn(validateNamespace(namespace), key, fn, by);
  }

  async readInbox(inbox: string): Promise<StoredValue | undefined> {
    validateKey(inbox);
    const raw = await this.conn.run('read', 'an inbox', () => this.conn.main.hget(this.keys.kv(MESSAGES_NAMESPACE), inbox));
    return raw === null ? undefined : toStored(parseEntry(raw));
  }

  updateInbox(inbox: string, fn: (current: StoredValue | undefined) => unknown, by: Actor): Promise<StoredValue> {
    return this.updateIn(MESSAGES_NAMESPACE, inbox, fn, by);
  }

  /**
   * Read, fn, then a compare-and-set of the version read; on a conflict the
   * script answers with the entry it found, which the next try starts from
   * (no second read). The first try starts from what this participant last
   * wrote there, if it remembers: usually still current, and a stale one
   * costs only that conflict (issue 11: one round trip a write instead of two).
   */
  private async updateIn(ns: string, key: string, fn: (current: StoredValue | undefined) => unknown, by: Actor): Promise<StoredValue> {
    validateKey(key);
    const remembered = rememberedKey(ns, key);
    let known: { entry: ParsedEntry | undefined } | undefined = this.lastWritten.has(remembered)
      ? { entry: this.lastWritten.get(remembered) }
      : undefined;
    for (;;) {
      const entry = known
        ? known.entry
        : await this.conn
            .run('read', `${ns}/${key}`, () => this.conn.main.hget(this.keys.kv(ns), key))
            .then((raw) => (raw === null ? undefined : parseEntry(raw)));
      const next = fn(entry ? toStored(entry) : undefined);
      checkValue(next, key);
      const valueJson = JSON.stringify(next);
      const r = await this.write(ns, key, 'set', 'raw', entry?.version ?? 0, valueJson, by);
      if (r[0] === 'ok') {
        this.deps.metrics.counter('store.contextWrites').inc();
        this.remember(remembered, { version: Number(r[1]), deleted: false, at: Number(r[2]), by, valueJson });
        return { value: next, version: Number(r[1]), updatedAt: Number(r[2]), updatedBy: by };
      }
      // The entry the script found (nil: none) is where the next try starts.
      const found = (r as unknown[])[2];
      known = r[0] === 'conflict' ? { entry: typeof found === 'string' ? parseEntry(found) : undefined } : undefined;
      // Retried at once: the entry in hand is the newest, and a loser that sleeps loses again to writers that do not
      // (4 processes on one key with the jittered backoff this replaced: one write waited up to 0.2 s, 0.6 s once the
      // first try used a remembered entry; now 0.05 s, issue 11).
      this.deps.metrics.counter('store.writeRetries').inc();
    }
  }

  /** What this participant last wrote under `remembered` (namespace and key), for its next update there; a few hundred keys. */
  private remember(remembered: string, entry: ParsedEntry): void {
    // write() forgot it just before, so this puts it last: the least recently written go first.
    this.lastWritten.set(remembered, entry);
    if (this.lastWritten.size > REMEMBERED_WRITES) this.lastWritten.delete(this.lastWritten.keys().next().value!);
  }

  /** One script: the server adds to the counter it holds, so concurrent increments never conflict or retry. */
  async increment(namespace: string, key: string, delta: number, by: Actor): Promise<StoredValue> {
    validateKey(key);
    checkDelta(delta, key);
    const ns = validateNamespace(namespace);
    const r = await this.write(ns, key, 'incr', 'none', 0, String(delta), by);
    // Refused by the script: the same error the other backends give, from the value it found.
    if (r[0] === 'notcounter') incremented(ns, key, JSON.parse(String(r[1])), delta);
    if (r[0] !== 'ok')
      throw new CoordinatorError('StoreUnavailable', `Redis refused the increment of ${ns}/${key} (${r[0]})`, { namespace: ns });
    this.deps.metrics.counter('store.contextWrites').inc();
    return { value: Number(r[4]), version: Number(r[1]), updatedAt: Number(r[2]), updatedBy: by };
  }

  async delete(namespace: string, key: string, by: Actor, options?: SetOptions): Promise<{ deleted: boolean; version: number }> {
    validateKey(key);
    const ns = validateNamespace(namespace);
    const expected = options?.expectedVersion;
    const r = await this.write(ns, key, 'delete', expected === undefined ? 'none' : 'visible', expected ?? 0, '', by);
    if (r[0] === 'conflict') throw versionConflict(ns, key, expected!, Number(r[1]));
    return r[0] === 'ok' ? { deleted: true, version: Number(r[1]) } : { deleted: false, version: 0 };
  }

  async list(namespace: string, prefix = ''): Promise<Array<{ key: string } & StoredValue>> {
    const ns = validateNamespace(namespace);
    const all = await this.conn.run('read', `namespace ${ns}`, () => this.conn.main.hgetall(this.keys.kv(ns)));
    const out: Array<{ key: string } & StoredValue> = [];
    for (const [key, raw] of Object.entries(all)) {
      if (!key.startsWith(prefix)) continue;
      const stored = toStored(parseEntry(raw));
      if (stored) out.push({ key, ...stored });
    }
    return out.sort((a, b) => a.key.localeCompare(b.key));
  }

  async namespaces(): Promise<string[]> {
    const names = await this.conn.run('read', 'the namespaces', () => this.conn.main.smembers(this.keys.namespaces));
    return names.filter((n) => !n.startsWith('_')).sort();
  }

  history(options: HistoryOptions): Promise<HistoryPage> {
    return historyPage(
      options,
      () => this.namespaces(),
      (n, afterSeq, limit) => this.readLog(n, afterSeq, limit),
    );
  }

  async acquireClaim(resource: string, holder: Actor, ttlMs: number, options?: { acrossWorktrees?: AcrossWorktrees }): Promise<Grant> {
    const r = await this.claimScript(`the claim on ${resource}`, (main, ...keys) =>
      main.scAcquire(
        ...keys,
        resource,
        JSON.stringify(holder),
        holderKey(holder),
        this.ttl(ttlMs),
        this.keys.channel,
        holder.checkout ?? '',
        options?.acrossWorktrees ?? 'refuse',
      ),
    );
    if (r[0] === 'conflict') throw claimConflict(resource, toClaim(String(r[1]), JSON.parse(String(r[2]))));
    this.deps.metrics.counter('claims.granted').inc();
    this.deps.metrics.counter('store.writes').inc();
    const elsewhere: Claim[] = [];
    for (let i = 2; i + 1 < r.length; i += 2) elsewhere.push(toClaim(String(r[i]), JSON.parse(String(r[i + 1]))));
    return { ...toClaim(claimKey(holder.checkout, resource), JSON.parse(String(r[1]))), ...(elsewhere.length ? { elsewhere } : {}) };
  }

  async renewClaim(resource: string, fencingToken: number, ttlMs: number, by: Actor): Promise<Claim> {
    const key = claimKey(by.checkout, resource);
    return toClaim(key, JSON.parse(await this.endClaim(key, fencingToken, by, 'renew', ttlMs)));
  }

  async releaseClaim(resource: string, fencingToken: number, by: Actor): Promise<void> {
    await this.endClaim(claimKey(by.checkout, resource), fencingToken, by, 'release', 0);
  }

  async revokeClaim(resource: string, fencingToken: number, _by: Actor, checkout?: string): Promise<void> {
    await this.endClaim(claimKey(checkout, resource), fencingToken, undefined, 'release', 0);
    this.deps.metrics.counter('claims.revoked').inc();
  }

  async listClaims(prefix = ''): Promise<Claim[]> {
    const r = await this.conn.run('read', 'the claims', () => this.conn.main.scListClaims(this.keys.claims));
    const now = Number(r[0]);
    const out: Claim[] = [];
    for (let i = 1; i + 1 < r.length; i += 2) {
      const claim = toClaim(String(r[i]), JSON.parse(String(r[i + 1])));
      if (claim.expiresAt > now && claim.resource.startsWith(prefix)) out.push(claim);
    }
    return out.sort((a, b) => a.resource.localeCompare(b.resource));
  }

  async transferClaim(resource: string, fencingToken: number, to: Actor, ttlMs: number, by: Actor): Promise<Claim> {
    if ((to.checkout ?? '') !== (by.checkout ?? '')) throw otherWorktree(resource, to);
    const key = claimKey(by.checkout, resource);
    const r = await this.claimScript(`the claim on ${resource}`, (main, ...keys) =>
      main.scTransfer(...keys, key, fencingToken, holderKey(by), JSON.stringify(to), holderKey(to), this.ttl(ttlMs), this.keys.channel),
    );
    if (r[0] === 'ok') {
      this.deps.metrics.counter('store.writes').inc();
      this.deps.metrics.counter('claims.transferred').inc();
      return toClaim(key, JSON.parse(String(r[1])));
    }
    if (r[0] === 'conflict') throw claimConflict(resource, toClaim(String(r[1]), JSON.parse(r[2]!)));
    return this.refusedEnd(resource, fencingToken, r);
  }

  async releaseClaimsOf(holder: HolderFilter): Promise<number> {
    if (holder.sessionId === undefined && holder.participantId === undefined && holder.agentKey === undefined) return 0;
    const released = await this.claimScript('the claims of a holder', (main, ...keys) =>
      main.scReleaseOf(...keys, holder.sessionId ?? '', holder.participantId ?? '', this.keys.channel, holder.agentKey ?? ''),
    );
    if (released) this.deps.metrics.counter('claims.releasedOnEnd').inc(released);
    return released;
  }

  async sendControl(request: Omit<ControlRequest, 'at'>): Promise<void> {
    const full: ControlRequest = { ...request, at: Date.now() };
    await this.conn.run('write', 'a control request', () =>
      this.conn.main.publish(this.keys.channel, encodeNotification({ kind: 'control', request: full })),
    );
  }

  heartbeat(sessions: readonly ParticipantSession[]): Promise<void> {
    return this.presence.heartbeat(sessions);
  }

  /** Live participants: those whose presence key has not expired (and, on this machine, whose pid is alive). */
  participants(): Promise<ParticipantInfo[]> {
    return this.presence.participants();
  }

  sweepParticipants(): Promise<void> {
    return this.presence.sweep();
  }

  describe(): Pick<StoreStatus, 'kind' | 'location' | 'degraded'> {
    return { kind: 'redis', location: this.location, degraded: !this.conn.connected };
  }

  async status(): Promise<StoreStatus> {
    const base = { kind: 'redis' as const, location: this.location };
    if (this.conn.connected) {
      try {
        const [meta, names] = await Promise.all([this.conn.main.hgetall(this.keys.meta), this.conn.main.smembers(this.keys.namespaces)]);
        const namespaces = names
          .filter((n) => !n.startsWith('_'))
          .sort()
          .map((name) => ({ name, keys: Number(meta[`live:${name}`] ?? 0), lastSeq: Number(meta[`seq:${name}`] ?? 0) }));
        const eventLogBytes = names.reduce((n, name) => n + Number(meta[`bytes:${name}`] ?? 0), 0);
        this.lastStatus = { namespaces, eventLogBytes };
        return { ...base, degraded: false, namespaces, eventLogBytes };
      } catch (e) {
        this.conn.noteError(e);
      }
    }
    return { ...base, degraded: true, reason: this.conn.unavailableReason(), ...this.lastStatus };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    // Leave at once rather than when the key expires; best effort, and never waits long. Calls from now on are refused.
    const leaving = this.conn.close((main) =>
      main
        .multi()
        .del(this.keys.presence(this.participantId))
        .hdel(this.keys.participants, this.participantId)
        .publish(this.keys.channel, PRESENCE_NOTE)
        .exec(),
    );
    await this.background.dispose();
    await leaving;
    this.events.dispose();
  }

  /** Runs a claim script; each takes the claims hash and the claim versions hash as its two keys. */
  private claimScript<T>(what: string, script: (main: ScriptClient, claims: string, versions: string) => Promise<T>): Promise<T> {
    return this.conn.run('write', what, () => script(this.conn.main, this.keys.claims, this.keys.claimVersions));
  }

  private ttl(ttlMs: number): number {
    return Math.max(1, Math.round(ttlMs));
  }

  private async write(
    ns: string,
    key: string,
    op: 'set' | 'delete' | 'incr',
    mode: 'none' | 'visible' | 'raw',
    expected: number,
    valueJson: string,
    by: Actor,
  ): Promise<[string, number?, number?, number?, string?]> {
    const k = this.keys;
    // Any write here may change the entry: update() remembers it again once it has written.
    this.lastWritten.delete(rememberedKey(ns, key));
    const r = await this.conn.run('write', `${ns}/${key}`, () =>
      this.conn.main.scWrite(
        k.kv(ns),
        k.log(ns),
        k.meta,
        k.namespaces,
        ns,
        key,
        op,
        mode,
        expected,
        JSON.stringify(key),
        valueJson,
        JSON.stringify(by),
        JSON.stringify(ns),
        this.options.maxEventLogBytes,
        k.changeChannel(ns),
        this.options.maxNamespaces,
        this.options.maxNamespaceBytes,
        this.options.maxStoreBytes,
      ),
    );
    if (r[0] === 'quota') throw tooManyNamespaces(ns, Number(r[1]), this.options.maxNamespaces);
    if (r[0] === 'bytes') {
      const scope = String(r[1]) === 'store' ? 'store' : 'namespace';
      throw tooManyBytes(scope, ns, key, Number(r[2]), scope === 'store' ? this.options.maxStoreBytes : this.options.maxNamespaceBytes);
    }
    if (r[0] === 'ok') this.deps.metrics.counter('store.writes').inc();
    return r;
  }

  private async endClaim(
    resource: string,
    fencingToken: number,
    by: Actor | undefined,
    action: 'renew' | 'release',
    ttlMs: number,
  ): Promise<string> {
    const r = await this.claimScript(`the claim on ${resource}`, (main, ...keys) =>
      main.scEndClaim(...keys, resource, fencingToken, by ? holderKey(by) : '', action, this.ttl(ttlMs), this.keys.channel),
    );
    if (r[0] === 'ok') {
      this.deps.metrics.counter('store.writes').inc();
      return String(r[1]);
    }
    return this.refusedEnd(resource, fencingToken, r);
  }

  /** Why a renew, release or transfer script refused: the same errors as decisions.ts heldClaim(). */
  private refusedEnd(resource: string, fencingToken: number, r: [string, (string | number)?, ...unknown[]]): never {
    if (r[0] === 'stale') {
      throw new CoordinatorError(
        'StaleFencingToken',
        `Fencing token ${fencingToken} for ${resource} is older than the current grant (${r[1]}); your claim was lost and re-granted`,
        { resource, fencingToken, currentToken: Number(r[1]) },
      );
    }
    if (r[0] === 'notowner') throw notTheHolder(resource, fencingToken, toClaim(resource, JSON.parse(String(r[1]))));
    throw new CoordinatorError(
      'ClaimNotHeld',
      `You do not hold ${resource} with fencing token ${fencingToken} (it expired or was released); acquire it again`,
      { resource, fencingToken },
    );
  }

  /** Records of one namespace with seq > afterSeq, oldest first. */
  private async readLog(ns: string, afterSeq: number, limit: number): Promise<ChangeEvent[]> {
    const entries = await this.conn.run('read', `the event log of ${ns}`, () =>
      this.conn.main.xrange(this.keys.log(ns), `${afterSeq + 1}-0`, '+', 'COUNT', limit),
    );
    return entries.map(([, fields]) => JSON.parse(fields[1]!) as ChangeEvent);
  }

  private emit(event: StoreEvent): void {
    this.events.fire(event);
  }

  private every(ms: number, work: () => Promise<void>): void {
    this.background.add(
      every(ms, work, (e) => {
        // While Redis is away every beat fails: status() says so once, the log does not repeat it every second.
        if (this.conn.connected) this.deps.logger.warn(`Store background work failed: ${errorMessage(e)}`);
        else this.deps.logger.debug(`Store background work failed: ${errorMessage(e)}`);
      }),
    );
  }
}
