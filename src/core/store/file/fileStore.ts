import { randomBytes } from 'node:crypto';
import { watch, promises as fs, type FSWatcher } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DisposableStore, type Disposable } from '../../lifecycle/disposable.js';
import { ALL_NAMESPACES, ChangeInterest } from '../changeInterest.js';
import { Emitter } from '../../lifecycle/emitter.js';
import { every } from '../../lifecycle/every.js';
import { historyPage, type HistoryOptions } from '../rules/history.js';
import { CoordinatorError, errorMessage, isCoordinatorError } from '../../errors.js';
import { isAlive } from '../../install/installState.js';
import {
  CLAIMS_NAMESPACE,
  CONTROL_NAMESPACE,
  MESSAGES_NAMESPACE,
  checkDelta,
  checkValue,
  versionConflict,
  type ByteQuota,
  decide,
  type WriteOp,
  liveClaims,
  toClaim,
} from '../rules/decisions.js';
import { STORE_FOLDER, storeLocation, type StoreLocation } from './storeLayout.js';
import { DEFAULT_STORE_QUOTAS, isNamespace, tooManyNamespaces, validateKey, validateNamespace, type StoreQuotas } from '../rules/limits.js';
import { isHeldBy, PARTICIPANT_ID, participantEntry, readParticipant } from '../participantEntry.js';
import type { AcrossWorktrees, Actor, Claim, ControlRequest, Grant, HolderFilter, ParticipantInfo, ParticipantSession } from '../actors.js';
import type { ChangeEvent, HistoryPage, SetOptions, SharedStore, StoreDeps, StoredValue, StoreEvent, StoreStatus } from '../sharedStore.js';
import { fsyncDir } from './durableFiles.js';
import { assertRealPath } from './safePaths.js';
import { newNonce, Shard, type ShardOptions } from './shard.js';
import { shardIo, type ShardIo, type ShardIoMode } from './shardIo.js';

const MAX_PRESENCE_BYTES = 1024 * 1024;

export interface FileStoreOptions extends ShardOptions, StoreQuotas {
  heartbeatMs: number;
  /** A participant whose heartbeat is older than this is gone (R-CTX-7). */
  goneAfterMs: number;
  /** The safety-net poll behind file-system notifications (R-CTX-6), while every watch works. */
  pollMs: number;
  /** The poll once a folder could not be watched: then it is how changes arrive. */
  unwatchedPollMs: number;
  /** Namespace logs kept open; the least recently used beyond this are closed, and reopened on use (R-SEC-1). */
  maxOpenLogs: number;
  /**
   * How a write's and a read's file-system calls run (shardIo.ts): `worker` (a worker thread) in the extension host,
   * whose event loop every extension shares; `blocking` where the loop is ours alone; `async` (the thread pool,
   * one hop per call) is the same without a thread of its own.
   */
  io: ShardIoMode;
}

export const DEFAULT_FILE_STORE_OPTIONS: FileStoreOptions = {
  lock: { staleMs: 5000, timeoutMs: 10_000 },
  rotateBytes: 1024 * 1024,
  maxEventLogBytes: 10 * 1024 * 1024,
  backups: 3,
  // Nine namespaces keep their full 14 MB floor each; more share this.
  maxStoreLogBytes: 128 * 1024 * 1024,
  heartbeatMs: 1000,
  goneAfterMs: 3000,
  // Each file-system call costs an idle participant CPU (a thread-pool round trip): the net is slow while watches work.
  pollMs: 15_000,
  unwatchedPollMs: 2000,
  ...DEFAULT_STORE_QUOTAS,
  maxOpenLogs: 32,
  io: 'worker',
};

export interface FileStoreDeps extends StoreDeps {
  /** The project root (a workspace folder); the store lives where storeLayout.ts says (its git folder, else `.session-coordinator`). */
  projectRoot: string;
  options?: Partial<FileStoreOptions>;
}

/**
 * The shared store on files in the workspace (R-CTX-1..7): one shard per
 * namespace, claims in a shard of their own, presence files, and change
 * propagation by fs.watch on each shard's folder with a slow poll behind it.
 */
export class FileStore implements SharedStore {
  readonly participantId: string;
  readonly dir: string;
  private readonly options: FileStoreOptions;
  private readonly shards = new Map<string, Shard>();
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly events = new Emitter<StoreEvent>((e) => this.deps.logger.warn(`A store listener failed: ${errorMessage(e)}`));
  readonly onEvent = this.events.event;
  private readonly interest = new ChangeInterest({ first: (name) => this.startWatching(name), last: () => this.watchWanted() });
  /** Heartbeat, sweep and poll: stopped together. */
  private readonly background = new DisposableStore();
  private readonly nonce: () => string;
  private readonly io: ShardIo;
  private readonly startedAt = Date.now();
  private lastSessions: readonly ParticipantSession[] = [];
  /** A folder could not be watched (or its watch failed): the poll is how its changes arrive. */
  private unwatched = false;
  /** The presence folder's names as last listed, and when. */
  private presenceNames: string[] | undefined;
  private presenceListedAt = 0;
  /** The sessions our presence file last said, as written. */
  private lastSaid: string | undefined;
  /** Presence files read before, by name: reread only when replaced (a new inode), not on every beat. */
  private readonly presenceRead = new Map<string, { ino: number; size: number; participant: ParticipantInfo }>();
  private disposed = false;
  private opened = false;
  /** Presence as last read: whoami asks on every call, the folder changes about once a second. */
  private presenceCache: { at: number; participants: ParticipantInfo[] } | undefined;
  /**
   * Counts what made the presence caches stale. A read that began before the
   * latest change must not fill them when it ends: its answer predates that change.
   */
  private presenceEpoch = 0;

  private readonly anchor: string;

  private constructor(
    private readonly deps: FileStoreDeps,
    location: StoreLocation,
  ) {
    this.options = { ...DEFAULT_FILE_STORE_OPTIONS, ...deps.options, lock: { ...DEFAULT_FILE_STORE_OPTIONS.lock, ...deps.options?.lock } };
    this.dir = location.dir;
    this.anchor = location.anchor;
    this.participantId = `${os.hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.nonce = newNonce(String(process.pid));
    this.io = shardIo(this.options.io);
  }

  /** Opens (creating if needed) the store of a project; throws when the folder cannot be used. */
  static async open(deps: FileStoreDeps): Promise<FileStore> {
    const location = await storeLocation(deps.projectRoot);
    const store = new FileStore(deps, location);
    await store.init();
    await warnOfOldFolder(deps, location);
    return store;
  }

  private async init(): Promise<void> {
    await assertRealPath(this.anchor, path.join(this.dir, 'ns'));
    await assertRealPath(this.anchor, path.join(this.dir, 'presence'));
    await fs.mkdir(path.join(this.dir, 'ns'), { recursive: true, mode: 0o700 });
    await fs.mkdir(path.join(this.dir, 'presence'), { recursive: true, mode: 0o700 });
    const gitignore = path.join(this.dir, '.gitignore');
    await fs
      .writeFile(gitignore, '# Session Coordinator shared state: never committed.\n*\n', { flag: 'wx', mode: 0o600 })
      .catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
      });
    await fsyncDir(this.dir);
    // Proves the folder is writable now, not at the first write an agent makes.
    await this.heartbeat([]);
    this.watchFolder(path.join(this.dir, 'ns'), () => void this.discoverNamespaces());
    this.watchFolder(path.join(this.dir, 'presence'), (file, event) => {
      // A participant that comes, goes or says something new replaces its file (a rename); a beat only touches it.
      if (event !== 'rename' || file?.endsWith('.tmp')) return;
      this.presenceChanged(true);
      this.emit({ kind: 'presence' });
    });
    await this.discoverNamespaces();
    await this.closeIdleLogs();
    this.opened = true;
    this.startBackground();
    this.deps.metrics.gauge('store.shards', () => this.shards.size);
    this.deps.metrics.gauge('store.openLogs', () => [...this.shards.values()].filter((s) => s.hasOpenLog).length);
  }

  watchChanges(namespace?: string): Disposable {
    return this.interest.watch(namespace);
  }

  /**
   * A namespace's folder is watched (others' writes read as soon as they
   * land) while its changes are wanted; reads and writes read everything new
   * first either way. What others wrote while nobody here watched is news
   * from now on: read at once.
   */
  private startWatching(name: string): void {
    this.watchWanted();
    const catchUp = name === ALL_NAMESPACES ? this.refreshAll() : this.shards.get(name)?.refresh();
    void catchUp?.catch((e) => this.deps.logger.warn(`Reading ${name}: ${errorMessage(e)}`));
  }

  async get(namespace: string, key: string): Promise<StoredValue | undefined> {
    validateKey(key);
    return (await this.existingShard(namespace))?.read((s) => s.live(key));
  }

  async set(namespace: string, key: string, value: unknown, by: Actor, options?: SetOptions): Promise<StoredValue> {
    validateKey(key);
    checkValue(value, key);
    const change = await this.apply(await this.shard(namespace), { kind: 'set', key, value, options }, by);
    this.deps.metrics.counter('store.contextWrites').inc();
    return { value, version: change!.version, updatedAt: change!.at, updatedBy: by };
  }

  async update(namespace: string, key: string, fn: (current: StoredValue | undefined) => unknown, by: Actor): Promise<StoredValue> {
    validateKey(key);
    const change = await this.apply(await this.shard(namespace), { kind: 'update', key, fn }, by);
    this.deps.metrics.counter('store.contextWrites').inc();
    return { value: change!.value, version: change!.version, updatedAt: change!.at, updatedBy: by };
  }

  async increment(namespace: string, key: string, delta: number, by: Actor): Promise<StoredValue> {
    validateKey(key);
    checkDelta(delta, key);
    const change = await this.apply(await this.shard(namespace), { kind: 'increment', key, delta }, by);
    this.deps.metrics.counter('store.contextWrites').inc();
    return { value: change!.value, version: change!.version, updatedAt: change!.at, updatedBy: by };
  }

  async delete(namespace: string, key: string, by: Actor, options?: SetOptions): Promise<{ deleted: boolean; version: number }> {
    validateKey(key);
    // Deleting from a namespace nobody wrote is a no-op (or a version conflict), never a new folder.
    const shard = await this.existingShard(namespace);
    if (!shard) {
      if (options?.expectedVersion !== undefined && options.expectedVersion !== 0)
        throw versionConflict(namespace, key, options.expectedVersion, 0);
      return { deleted: false, version: 0 };
    }
    const change = await this.apply(shard, { kind: 'delete', key, options }, by);
    return { deleted: change !== undefined, version: change?.version ?? 0 };
  }

  async list(namespace: string, prefix = ''): Promise<Array<{ key: string } & StoredValue>> {
    const shard = await this.existingShard(namespace);
    if (!shard) return [];
    return shard.read((s) =>
      [...s.entries]
        .filter(([k, e]) => !e.deleted && k.startsWith(prefix))
        .map(([key, e]) => ({ key, value: e.value, version: e.version, updatedAt: e.updatedAt, updatedBy: e.updatedBy }))
        .sort((a, b) => a.key.localeCompare(b.key)),
    );
  }

  async namespaces(): Promise<string[]> {
    await this.discoverNamespaces();
    return [...this.shards.keys()].filter((n) => !n.startsWith('_')).sort();
  }

  history(options: HistoryOptions): Promise<HistoryPage> {
    return historyPage(
      options,
      () => this.namespaces(),
      async (n, afterSeq, limit) => (await this.existingShard(n))?.history(afterSeq, limit) ?? [],
    );
  }

  async acquireClaim(resource: string, holder: Actor, ttlMs: number, options?: { acrossWorktrees?: AcrossWorktrees }): Promise<Grant> {
    const elsewhere: Claim[] = [];
    const op: WriteOp = { kind: 'acquire', resource, holder, ttlMs, across: options?.acrossWorktrees };
    const change = await this.apply(await this.claims(), op, holder, elsewhere);
    this.deps.metrics.counter('claims.granted').inc();
    return { ...toClaim(change!.key, change!.value), ...(elsewhere.length ? { elsewhere } : {}) };
  }

  async renewClaim(resource: string, fencingToken: number, ttlMs: number, by: Actor): Promise<Claim> {
    const change = await this.apply(await this.claims(), { kind: 'renew', resource, fencingToken, ttlMs, by }, by);
    return toClaim(change!.key, change!.value);
  }

  async releaseClaim(resource: string, fencingToken: number, by: Actor): Promise<void> {
    await this.apply(await this.claims(), { kind: 'release', resource, fencingToken, by }, by);
  }

  async revokeClaim(resource: string, fencingToken: number, by: Actor, checkout?: string): Promise<void> {
    await this.apply(await this.claims(), { kind: 'release', resource, fencingToken, checkout }, by);
    this.deps.metrics.counter('claims.revoked').inc();
  }

  async transferClaim(resource: string, fencingToken: number, to: Actor, ttlMs: number, by: Actor): Promise<Claim> {
    const change = await this.apply(await this.claims(), { kind: 'transfer', resource, fencingToken, to, ttlMs, by }, by);
    this.deps.metrics.counter('claims.transferred').inc();
    return toClaim(change!.key, change!.value);
  }

  async readInbox(inbox: string): Promise<StoredValue | undefined> {
    validateKey(inbox);
    return (await this.shardByName(MESSAGES_NAMESPACE)).read((s) => s.live(inbox));
  }

  async updateInbox(inbox: string, fn: (current: StoredValue | undefined) => unknown, by: Actor): Promise<StoredValue> {
    validateKey(inbox);
    const change = await this.apply(await this.shardByName(MESSAGES_NAMESPACE), { kind: 'update', key: inbox, fn }, by);
    return { value: change!.value, version: change!.version, updatedAt: change!.at, updatedBy: by };
  }

  async sendControl(request: Omit<ControlRequest, 'at'>): Promise<void> {
    const actor = { sessionId: 'person', clientName: request.requestedBy, participantId: this.participantId };
    const op: WriteOp = { kind: 'set', key: `${request.action}:${request.sessionId}`, value: { ...request, at: Date.now() } };
    await this.apply(await this.shardByName(CONTROL_NAMESPACE), op, actor);
  }

  async listClaims(prefix = ''): Promise<Claim[]> {
    return (await this.claims()).read((s) => liveClaims(s, Date.now()).filter((c) => c.resource.startsWith(prefix)));
  }

  async releaseClaimsOf(holder: HolderFilter): Promise<number> {
    const held = (await this.listClaims()).filter((c) => isHeldBy(c, holder));
    let released = 0;
    for (const claim of held) {
      try {
        // On the holder's behalf: its session ended or its participant is gone.
        await this.releaseClaim(claim.resource, claim.fencingToken, claim.holder);
        released++;
      } catch (e) {
        // Someone else released or re-granted it meanwhile: nothing of ours is left there.
        if (!(e instanceof CoordinatorError)) throw e;
      }
    }
    if (released) this.deps.metrics.counter('claims.releasedOnEnd').inc(released);
    return released;
  }

  async heartbeat(sessions: readonly ParticipantSession[]): Promise<void> {
    this.lastSessions = sessions;
    const file = path.join(this.dir, 'presence', `${this.participantId}.json`);
    const said = JSON.stringify(sessions);
    if (said === this.lastSaid) {
      // Nothing new to say: the beat is the file's mtime (one call, and no event for anyone to act on).
      const now = new Date();
      const touched = await fs.lutimes(file, now, now).then(
        () => true,
        () => false,
      );
      if (touched) return;
    }
    const entry = participantEntry(this.participantId, this.deps.participant, this.startedAt, sessions);
    // Presence is not acknowledged data: rename for atomicity, no fsync on every beat.
    const temp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
    await fs.writeFile(temp, JSON.stringify(entry), { mode: 0o600 });
    await fs.rename(temp, file);
    this.lastSaid = said;
    this.presenceChanged(false);
  }

  async participants(): Promise<ParticipantInfo[]> {
    const now = Date.now();
    let participants =
      this.presenceCache && now - this.presenceCache.at <= this.options.heartbeatMs ? this.presenceCache.participants : undefined;
    if (!participants) {
      const epoch = this.presenceEpoch;
      participants = await this.readParticipants();
      if (epoch === this.presenceEpoch) this.presenceCache = { at: now, participants };
    }
    return participants.filter((p) => !this.isGone(p, now));
  }

  describe(): Pick<StoreStatus, 'kind' | 'location' | 'degraded'> {
    return { kind: 'file', location: this.dir, degraded: false };
  }

  async status(): Promise<StoreStatus> {
    const names = await this.namespaces();
    let eventLogBytes = 0;
    const namespaces = [];
    for (const name of names) {
      try {
        const shard = await this.shard(name);
        await shard.refresh();
        eventLogBytes += await shard.eventLogBytes();
        namespaces.push({ name, keys: shard.keyCount, lastSeq: shard.lastSeq });
      } catch (e) {
        // One namespace a repository broke must not take the status (and the panel) of all the others.
        namespaces.push({
          name,
          keys: 0,
          lastSeq: 0,
          unreadable: isCoordinatorError(e) ? e.message : `cannot be read (${errorMessage(e)})`,
        });
      }
    }
    return { kind: 'file', location: this.dir, degraded: false, namespaces, eventLogBytes };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.background.dispose();
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    await fs.rm(path.join(this.dir, 'presence', `${this.participantId}.json`), { force: true });
    await Promise.all([...this.shards.values()].map((s) => s.close()));
    this.events.dispose();
  }

  /** Gone participants: removed, and their claims released, by whoever notices first. */
  async sweepParticipants(): Promise<void> {
    const now = Date.now();
    const epoch = this.presenceEpoch;
    // Our own file is never swept, so it is not read (a read, a parse and a check every second).
    const others = await this.readParticipants(this.participantId);
    // What was just read is what participants() answers until the next beat: one listing a beat, not two.
    if (epoch === this.presenceEpoch)
      this.presenceCache = {
        at: now,
        participants: [participantEntry(this.participantId, this.deps.participant, this.startedAt, this.lastSessions), ...others],
      };
    for (const p of others) {
      if (!this.isGone(p, now)) continue;
      // The id was checked against the file's own name and a strict alphabet: this names that file and no other.
      await fs.rm(path.join(this.dir, 'presence', `${p.participantId}.json`), { force: true });
      this.presenceChanged(true);
      const released = await this.releaseClaimsOf({ participantId: p.participantId });
      this.deps.metrics.counter('presence.gone').inc();
      this.deps.logger.info(`Participant ${p.label} (pid ${p.pid}) is gone; released ${released} claim(s)`);
      this.emit({ kind: 'presence' });
    }
  }

  /** A presence file came, went or changed (`listing`: its name too, so the folder must be listed again). */
  private presenceChanged(listing: boolean): void {
    this.presenceEpoch++;
    this.presenceCache = undefined;
    if (listing) this.presenceNames = undefined;
  }

  private isGone(p: ParticipantInfo, now: number): boolean {
    if (now - p.heartbeatAt > this.options.goneAfterMs) return true;
    // Same machine: a dead pid is gone at once, without waiting out the heartbeat.
    return p.host === os.hostname() && !isAlive(p.pid);
  }

  private async readParticipants(except?: string): Promise<ParticipantInfo[]> {
    const dir = path.join(this.dir, 'presence');
    const now = Date.now();
    // The folder is listed again only when its watch saw a file come or go (or at the safety poll's pace).
    let names = this.presenceNames;
    if (!names || this.unwatched || now - this.presenceListedAt >= this.options.pollMs) {
      const epoch = this.presenceEpoch;
      names = await fs.readdir(dir).catch(() => [] as string[]);
      if (epoch === this.presenceEpoch) {
        this.presenceNames = names;
        this.presenceListedAt = now;
      }
    }
    const out: ParticipantInfo[] = [];
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      const id = name.slice(0, -'.json'.length);
      if (!PARTICIPANT_ID.test(id) || id === except) continue;
      try {
        const file = path.join(dir, name);
        // Ours are a few KB: a symlink, a fifo or a huge planted file is not read at all.
        const stat = await fs.lstat(file);
        if (!stat.isFile() || stat.size > MAX_PRESENCE_BYTES) continue;
        const known = this.presenceRead.get(name);
        let participant = known && known.ino === stat.ino && known.size === stat.size ? known.participant : undefined;
        if (!participant) {
          participant = readParticipant(id, JSON.parse(await fs.readFile(file, 'utf8')));
          // Not a presence record of that name (planted, or from an older format): read as nobody (R-SEC-3).
          if (!participant) continue;
          this.presenceRead.set(name, { ino: stat.ino, size: stat.size, participant });
        }
        // A beat that only touched the file; an mtime in the future counts as now, not as later.
        out.push({ ...participant, heartbeatAt: Math.max(participant.heartbeatAt, Math.min(stat.mtimeMs, now)) });
      } catch {
        // Half-written by a participant killed mid-beat, or removed meanwhile: its next beat fixes it.
      }
    }
    for (const name of this.presenceRead.keys()) if (!names.includes(name)) this.presenceRead.delete(name);
    return out;
  }

  private claims(): Promise<Shard> {
    return this.shardByName(CLAIMS_NAMESPACE);
  }

  /** The byte quotas for a write into `namespace`: the other namespaces count as of their last read. */
  /** One write, decided under the shard's locks against its latest state. */
  private apply(shard: Shard, op: WriteOp, by: Actor, elsewhere?: Claim[]): Promise<ChangeEvent | undefined> {
    return shard.write(
      (s) => decide(s, op, { now: Date.now(), quota: this.quotaFor(s.namespace), ...(elsewhere ? { elsewhere } : {}) }),
      by,
    );
  }

  private quotaFor(namespace: string): ByteQuota {
    return {
      namespaceBytes: this.options.maxNamespaceBytes,
      storeBytes: this.options.maxStoreBytes,
      elsewhere: () => {
        let bytes = 0;
        for (const [name, shard] of this.shards) if (name !== namespace) bytes += shard.liveBytes;
        return bytes;
      },
    };
  }

  /** The shard a write goes to, created if need be, within the namespace quota (R-SEC-1). */
  private async shard(namespace: string): Promise<Shard> {
    const name = validateNamespace(namespace);
    if (!this.shards.has(name) && !(await this.folderExists(name))) {
      const count = [...this.shards.keys()].filter((n) => !n.startsWith('_')).length;
      if (count >= this.options.maxNamespaces) throw tooManyNamespaces(name, count, this.options.maxNamespaces);
    }
    return this.shardByName(name);
  }

  /** The shard a read goes to, or undefined when nobody ever wrote that namespace: reads create nothing (R-SEC-1). */
  private async existingShard(namespace: string): Promise<Shard | undefined> {
    const name = validateNamespace(namespace);
    if (!this.shards.has(name) && !(await this.folderExists(name))) return undefined;
    return this.shardByName(name);
  }

  private folderExists(name: string): Promise<boolean> {
    return fs.stat(path.join(this.dir, 'ns', name)).then(
      (s) => s.isDirectory(),
      () => false,
    );
  }

  private async shardByName(name: string): Promise<Shard> {
    if (this.disposed) throw new CoordinatorError('StoreUnavailable', 'The shared store is closed', {});
    let shard = this.shards.get(name);
    if (shard) return shard;
    const dir = path.join(this.dir, 'ns', name);
    await assertRealPath(this.anchor, dir);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    shard = this.shards.get(name);
    if (shard) return shard;
    shard = new Shard(
      dir,
      name,
      {
        metrics: this.deps.metrics,
        logger: this.deps.logger,
        options: this.options,
        nonce: this.nonce,
        io: this.io,
        onChanges: (changes) => this.changed(name, changes),
        namespaces: () => this.shards.size,
      },
      this.opened,
    );
    this.shards.set(name, shard);
    this.watchWanted();
    return shard;
  }

  /**
   * Watches the folders of the shards whose changes are wanted, and only those:
   * every write to a watched folder (its log, its lock made and removed) costs
   * each watching process three events to handle, wanted or not.
   */
  private watchWanted(): void {
    if (this.disposed) return;
    for (const [name, shard] of this.shards) {
      const watched = this.watchers.get(shard.dir);
      if (!this.interest.wants(name)) {
        watched?.close();
        this.watchers.delete(shard.dir);
        continue;
      }
      if (watched) continue;
      const refresh = (): void => void shard.refresh().catch((e) => this.deps.logger.warn(`Refreshing ${name}: ${errorMessage(e)}`));
      this.watchFolder(shard.dir, (file) => {
        if (file === null || file.startsWith('wal.') || file === 'CURRENT') refresh();
      });
      // Writes that landed before the watch began would otherwise wait for the poll.
      refresh();
    }
  }

  private changed(namespace: string, changes: ChangeEvent[]): void {
    if (namespace === CLAIMS_NAMESPACE) {
      this.emit({ kind: 'claims' });
      return;
    }
    if (namespace === CONTROL_NAMESPACE) {
      for (const c of changes) if (c.op === 'set') this.emit({ kind: 'control', request: c.value as ControlRequest });
      return;
    }
    if (namespace === MESSAGES_NAMESPACE) {
      for (const inbox of new Set(changes.map((c) => c.key))) this.emit({ kind: 'inbox', inbox });
      return;
    }
    const now = Date.now();
    for (const change of changes) {
      if (change.by.participantId !== this.participantId)
        this.deps.metrics.histogram('store.propagationMs').record(Math.max(0, now - change.at));
      this.emit({ kind: 'change', change });
    }
  }

  private emit(event: StoreEvent): void {
    this.events.fire(event);
  }

  /**
   * Opens the namespaces other participants created. Only names we could have
   * written count (a folder a repository planted as "Notes" or "../x" is not
   * one), and no more than the quota: each is an open file here.
   */
  private async discoverNamespaces(): Promise<void> {
    const names = await fs.readdir(path.join(this.dir, 'ns')).catch(() => [] as string[]);
    let count = [...this.shards.keys()].filter((n) => !n.startsWith('_')).length;
    for (const name of names.sort()) {
      if (this.shards.has(name)) continue;
      const internal = name === CLAIMS_NAMESPACE || name === CONTROL_NAMESPACE || name === MESSAGES_NAMESPACE;
      if (!internal && (!isNamespace(name) || count >= this.options.maxNamespaces)) continue;
      await this.shardByName(name).then(
        () => (count += internal ? 0 : 1),
        () => undefined,
      );
    }
  }

  private async refreshAll(): Promise<void> {
    await this.discoverNamespaces();
    await Promise.all([...this.shards].filter(([name]) => this.interest.wants(name)).map(([, s]) => s.refresh()));
    await this.closeIdleLogs();
  }

  /** Open files follow the namespaces in use, not how many exist: the least recently used logs are closed. */
  private async closeIdleLogs(): Promise<void> {
    const open = [...this.shards.values()].filter((s) => s.hasOpenLog).sort((a, b) => a.lastUsedAt - b.lastUsedAt);
    for (const shard of open.slice(0, Math.max(0, open.length - this.options.maxOpenLogs))) await shard.closeLog();
  }

  /** The poll's pace: pollMs while every watch works, unwatchedPollMs once one failed. */
  private get pollTickMs(): number {
    return Math.min(this.options.pollMs, this.options.unwatchedPollMs);
  }

  /**
   * The heartbeat (with the sweep) and the safety-net poll share one timer:
   * an idle participant's cost is mostly its wake-ups, and two timers woke it
   * twice (issue 11, idle-cpu). Each runs on its own ticks and never overlaps
   * itself; a slow poll does not delay a beat.
   */
  private startBackground(): void {
    const o = this.options;
    const tick = Math.min(o.heartbeatMs, this.pollTickMs);
    const beatEvery = Math.max(1, Math.round(o.heartbeatMs / tick));
    let ticks = 0;
    let polling = false;
    let lastPoll = Date.now();
    this.every(tick, async () => {
      ticks++;
      const pollDue = Date.now() - lastPoll >= (this.unwatched ? o.unwatchedPollMs : o.pollMs) - tick / 2;
      if (pollDue && !polling) {
        polling = true;
        lastPoll = Date.now();
        void this.refreshAll()
          .catch((e) => this.deps.logger.warn(`Store background work failed: ${errorMessage(e)}`))
          .finally(() => (polling = false));
      }
      if (ticks % beatEvery === 0) await this.heartbeat(this.lastSessions).then(() => this.sweepParticipants());
    });
  }

  private watchFolder(dir: string, onChange: (file: string | null, event: string) => void): void {
    if (this.watchers.has(dir)) return;
    try {
      const w = watch(dir, { persistent: false }, (event, file) => onChange(file ? String(file) : null, event));
      w.on('error', () => {
        w.close();
        this.unwatched = true;
      });
      this.watchers.set(dir, w);
    } catch (e) {
      this.unwatched = true;
      this.deps.logger.warn(`Cannot watch ${dir} (${errorMessage(e)}); changes arrive by polling every ${this.pollTickMs} ms`);
    }
  }

  private every(ms: number, work: () => Promise<void>): void {
    this.background.add(every(ms, work, (e) => this.deps.logger.warn(`Store background work failed: ${errorMessage(e)}`)));
  }
}

/**
 * Before worktrees shared one store, a repository's was `<root>/.session-coordinator`.
 * Its context is not moved (a write there may still be in flight from an older
 * version); a person is told where the shared state is now.
 */
async function warnOfOldFolder(deps: FileStoreDeps, location: StoreLocation): Promise<void> {
  const old = path.join(deps.projectRoot, STORE_FOLDER);
  if (location.dir === old) return;
  const names = await fs.readdir(path.join(old, 'ns')).catch(() => [] as string[]);
  const namespaces = names.filter((n) => isNamespace(n));
  if (namespaces.length === 0) return;
  deps.logger.warn(
    `This project's shared state is now in ${location.dir}, where every git worktree of the repository finds it. ${old} holds ${namespaces.length} namespace(s) from before (${namespaces.slice(0, 5).join(', ')}): they are left as they were; copy what you need with context_get/context_set, then delete the folder.`,
  );
}
