// One OS process of the shared-store bench (bench/store.bench.ts): our
// FileStore or RedisStore, SQLite through better-sqlite3, a raw rename +
// fs.watch pair, or a process that holds a shard's lock until it is killed.
// Started with an IPC channel and its job as JSON in argv[2]; it prepares
// (opens the store or the database, warms up), sends {type:'ready'}, then
// waits for the parent's {type:'go'} (or, for the waiter, {type:'write'}).
// Every timestamp it reports is performance.timeOrigin + performance.now(),
// comparable across processes on this machine.
import { watch, promises as fs } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as path from 'node:path';
import { silentLogger } from '../../src/core/logging/logger.js';
import { Metrics } from '../../src/core/metrics/metrics.js';
import { DEFAULT_FILE_STORE_OPTIONS, FileStore, type FileStoreOptions } from '../../src/core/store/file/fileStore.js';
import { STORE_FOLDER } from '../../src/core/store/file/storeLayout.js';
import { shardIo, type ShardIoMode } from '../../src/core/store/file/shardIo.js';
import { ShardLock } from '../../src/core/store/file/shardLock.js';
import { RedisStore } from '../../src/core/store/redis/redisStore.js';
import type { SharedStore } from '../../src/core/store/sharedStore.js';
import { incrementCounter } from '../../test/support/counterIncrement.js';
import { runCeiling, type CeilingJob } from './leaderCeiling.js';
import { openSqlite } from './sqlite.js';

/** A RedisStore instead of the FileStore in `root`: the server's URL and the project id its keys live under. */
export interface RedisTarget {
  url: string;
  projectId: string;
}

export type StoreJob =
  /** `count` increments of one key: `update` is store.update(); `cas` is get, then set with expectedVersion, retried on VersionConflict; `incr` is store.increment(). */
  /** `agents` concurrent loops in this one process (a window with that many agents), `count` increments in all; 1 unless set. */
  /** `io`: how the FileStore's calls run (a headless participant's `blocking`, unless told; a window's `async`). */
  | {
      mode: 'update' | 'cas' | 'incr';
      root: string;
      namespace: string;
      key: string;
      count: number;
      agents?: number;
      redis?: RedisTarget;
      io?: ShardIoMode;
    }
  /** The same increments in SQLite: WAL, synchronous=FULL, BEGIN IMMEDIATE; SELECT; UPDATE; COMMIT. */
  | { mode: 'sqlite'; file: string; key: string; count: number; agents?: number }
  /** Process A of the propagation figure: `count` sets of one key, `gapMs` apart, reporting when each was acknowledged. */
  | { mode: 'propWrite'; root: string; namespace: string; key: string; count: number; gapMs: [number, number]; redis?: RedisTarget }
  /** Process B: FileStore.onEvent with a poll too slow to matter, so only fs.watch delivers (RedisStore.onEvent: pub/sub). */
  | { mode: 'propRead'; root: string; namespace: string; key: string; redis?: RedisTarget }
  /** The floor: a file written outside `dir` and renamed into it, `gapMs` apart. */
  | { mode: 'rawWrite'; dir: string; staging: string; count: number; gapMs: [number, number] }
  /** Its observer: fs.watch on `dir`. */
  | { mode: 'rawRead'; dir: string }
  /** Takes the shard's lock through ShardLock with the store's options and sleeps holding it. */
  | { mode: 'hold'; root: string; namespace: string }
  /** Keeps the store open, watching `namespace` or not, and reports its CPU between 'go' and 'stop': what others' writes cost it. */
  | { mode: 'listen'; root: string; namespace: string; watch: boolean }
  /** Writes one key on each {type:'write'} message and reports when the write was acknowledged. */
  | { mode: 'waiter'; root: string; namespace: string; key: string }
  /** The bare one-writer prototype (leaderCeiling.ts), not our store. */
  | CeilingJob;

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'locked' }
  | {
      type: 'done';
      startedAt: number;
      endedAt: number;
      latencies: number[];
      conflicts: number;
      cpuMs: number;
      metrics: Record<string, unknown>;
    }
  | { type: 'acks'; starts: number[]; acks: number[] }
  | { type: 'seen'; seen: Array<[number, number]> }
  | { type: 'acked'; at: number; latency: number }
  | { type: 'listened'; cpuMs: number; changes: number };

export type ParentMessage = { type: 'go' } | { type: 'stop' } | { type: 'write'; i: number };

const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const gap = ([lo, hi]: [number, number]): number => lo + Math.random() * (hi - lo);

/** Resolves once the message is handed to the channel, so a worker can exit right after. */
function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve, reject) => process.send!(message, undefined, undefined, (e) => (e ? reject(e) : resolve())));
}

// Every message from the parent, kept until a job asks for it: none is lost between two awaits.
const inbox: ParentMessage[] = [];
let wake: (() => void) | undefined;
process.on('message', (m: ParentMessage) => {
  inbox.push(m);
  wake?.();
});
// The bench went away (crashed, or was interrupted): nothing is left running behind it.
process.on('disconnect', () => process.exit(0));

/** The next message from the parent of one of `types` (others are dropped). */
async function next(...types: ParentMessage['type'][]): Promise<ParentMessage> {
  for (;;) {
    const m = inbox.shift();
    if (m && types.includes(m.type)) return m;
    if (!m) await new Promise<void>((r) => (wake = r));
  }
}

/** `count` operations in all, by `n` concurrent loops (the agents of one window). */
async function agents(n: number, count: number, one: () => Promise<void>): Promise<void> {
  let left = count;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (left-- > 0) await one();
    }),
  );
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function openStore(root: string, metrics: Metrics, options: Partial<FileStoreOptions> = {}): Promise<FileStore> {
  return FileStore.open({
    projectRoot: root,
    participant: { kind: 'headless', label: `bench worker ${process.pid}` },
    metrics,
    logger: silentLogger,
    options,
  });
}

/** The job's RedisStore (the store's default options) when it names one, else its FileStore. */
function openJobStore(
  job: { root: string; redis?: RedisTarget },
  metrics: Metrics,
  fileOptions: Partial<FileStoreOptions> = {},
): Promise<SharedStore> {
  if (!job.redis) return openStore(job.root, metrics, fileOptions);
  return RedisStore.open({
    url: job.redis.url,
    projectId: job.redis.projectId,
    participant: { kind: 'headless', label: `bench worker ${process.pid}` },
    metrics,
    logger: silentLogger,
  });
}

/**
 * Increments done before the timing, by a store of their own, of another key in the same namespace (SQLite: another
 * row of the same database): the JIT of a long-running participant is warm, and its namespace has a history.
 */
const WARMUP = 1000;

async function increments(job: Extract<StoreJob, { mode: 'update' | 'cas' | 'incr' }>): Promise<void> {
  const options = { io: job.io ?? 'blocking' } as const;
  const warm = await openJobStore({ ...job }, new Metrics(), options);
  const warmBy = { sessionId: `warmup-${process.pid}`, clientName: 'store-bench', participantId: warm.participantId };
  await agents(
    job.agents ?? 1,
    WARMUP,
    async () => void (await incrementCounter(warm, job.mode, job.namespace, `${job.key}-warmup`, warmBy)),
  );
  await warm.dispose();
  const metrics = new Metrics();
  const store = await openJobStore(job, metrics, options);
  const by = { sessionId: `bench-${process.pid}`, clientName: 'store-bench', participantId: store.participantId };
  // Opens the shard (its folder watch, its log) outside the timing, as a long-running participant has.
  await store.get(job.namespace, job.key);
  await send({ type: 'ready' });
  await next('go');
  const latencies: number[] = [];
  let conflicts = 0;
  const one = async (): Promise<void> => {
    const t = performance.now();
    conflicts += await incrementCounter(store, job.mode, job.namespace, job.key, by);
    latencies.push(performance.now() - t);
  };
  // How long this process's event loop was blocked while it wrote: in a window, that loop is the extension host's.
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  const cpu0 = cpuMs();
  // The main thread's own busy time (not the file worker's, nor the kernel's): what a window's writes cost the host.
  const busy0 = performance.eventLoopUtilization();
  const startedAt = now();
  await agents(job.agents ?? 1, job.count, one);
  const endedAt = now();
  const cpu = cpuMs() - cpu0;
  const busy = performance.eventLoopUtilization(busy0);
  loopDelay.disable();
  const snapshot = {
    ...(metrics.snapshot() as Record<string, unknown>),
    'eventLoop.delayP99Ms': loopDelay.percentile(99) / 1e6,
    'eventLoop.busyMsPerWrite': busy.active / job.count,
  };
  await store.dispose();
  await send({ type: 'done', startedAt, endedAt, latencies, conflicts, cpuMs: cpu, metrics: snapshot });
}

async function sqlite(job: Extract<StoreJob, { mode: 'sqlite' }>): Promise<void> {
  // busy_timeout long enough that no increment ever fails with SQLITE_BUSY: every one of them is counted.
  const db = await openSqlite(job.file, { timeout: 60_000 });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  const begin = db.prepare('BEGIN IMMEDIATE');
  const read = db.prepare<[string], { v: number }>('SELECT v FROM kv WHERE k = ?');
  const write = db.prepare('UPDATE kv SET v = ? WHERE k = ?');
  const commit = db.prepare('COMMIT');
  // The same warm-up as ours, on a row of its own.
  db.prepare('INSERT OR IGNORE INTO kv (k, v) VALUES (?, 0)').run(`${job.key}-warmup`);
  for (let i = 0; i < WARMUP; i++) {
    begin.run();
    write.run((read.get(`${job.key}-warmup`)?.v ?? 0) + 1, `${job.key}-warmup`);
    commit.run();
  }
  read.get(job.key);
  await send({ type: 'ready' });
  await next('go');
  const latencies: number[] = [];
  const one = async (): Promise<void> => {
    const t = performance.now();
    begin.run();
    const v = read.get(job.key)?.v ?? 0;
    write.run(v + 1, job.key);
    commit.run();
    latencies.push(performance.now() - t);
  };
  const cpu0 = cpuMs();
  const startedAt = now();
  await agents(job.agents ?? 1, job.count, one);
  const endedAt = now();
  const cpu = cpuMs() - cpu0;
  db.close();
  await send({ type: 'done', startedAt, endedAt, latencies, conflicts: 0, cpuMs: cpu, metrics: {} });
}

async function propWrite(job: Extract<StoreJob, { mode: 'propWrite' }>): Promise<void> {
  const store = await openJobStore(job, new Metrics());
  const by = { sessionId: `bench-${process.pid}`, clientName: 'store-bench', participantId: store.participantId };
  for (let i = 0; i < 20; i++) await store.set(job.namespace, `${job.key}-warmup`, i, by);
  await send({ type: 'ready' });
  await next('go');
  const starts: number[] = [];
  const acks: number[] = [];
  for (let i = 0; i < job.count; i++) {
    starts.push(now());
    await store.set(job.namespace, job.key, { i }, by);
    acks.push(now());
    await sleep(gap(job.gapMs));
  }
  await store.dispose();
  await send({ type: 'acks', starts, acks });
}

async function propRead(job: Extract<StoreJob, { mode: 'propRead' }>): Promise<void> {
  // A poll this slow never runs during the bench: what arrives, arrives through fs.watch.
  // (RedisStore: through its pub/sub subscription, which open() has made before it returns.)
  const store = await openJobStore(job, new Metrics(), { pollMs: 2 ** 31 - 1 });
  const seen: Array<[number, number]> = [];
  // Like an agent subscribed to context://<namespace>: its changes are read as they land.
  store.watchChanges(job.namespace);
  store.onEvent((e) => {
    if (e.kind === 'change' && e.change.key === job.key) seen.push([(e.change.value as { i: number }).i, now()]);
  });
  // Opens the shard, and with it the watch on its folder.
  await store.get(job.namespace, job.key);
  await send({ type: 'ready' });
  await next('stop');
  await store.dispose();
  await send({ type: 'seen', seen });
}

async function listen(job: Extract<StoreJob, { mode: 'listen' }>): Promise<void> {
  const store = await openStore(job.root, new Metrics());
  if (job.watch) store.watchChanges(job.namespace);
  let changes = 0;
  store.onEvent((e) => {
    if (e.kind === 'change') changes++;
  });
  // Opens the shard, and with it the watch on its folder, as a participant that has read it once.
  await store.get(job.namespace, 'k');
  await send({ type: 'ready' });
  await next('go');
  const cpu0 = cpuMs();
  await next('stop');
  const cpu = cpuMs() - cpu0;
  await store.dispose();
  await send({ type: 'listened', cpuMs: cpu, changes });
}

async function rawWrite(job: Extract<StoreJob, { mode: 'rawWrite' }>): Promise<void> {
  for (let i = 0; i < 20; i++) await fs.writeFile(path.join(job.staging, `warmup-${i}`), '{}');
  await send({ type: 'ready' });
  await next('go');
  const starts: number[] = [];
  const acks: number[] = [];
  for (let i = 0; i < job.count; i++) {
    starts.push(now());
    const temp = path.join(job.staging, `${i}.tmp`);
    await fs.writeFile(temp, JSON.stringify({ i }));
    await fs.rename(temp, path.join(job.dir, `${i}.json`));
    acks.push(now());
    await sleep(gap(job.gapMs));
  }
  await send({ type: 'acks', starts, acks });
}

async function rawRead(job: Extract<StoreJob, { mode: 'rawRead' }>): Promise<void> {
  const seen = new Map<number, number>();
  const watcher = watch(job.dir, (_event, file) => {
    const t = now();
    const m = file ? /^(\d+)\.json$/.exec(String(file)) : null;
    if (m && !seen.has(Number(m[1]))) seen.set(Number(m[1]), t);
  });
  await send({ type: 'ready' });
  await next('stop');
  watcher.close();
  await send({ type: 'seen', seen: [...seen] });
}

async function hold(job: Extract<StoreJob, { mode: 'hold' }>): Promise<void> {
  const lock = new ShardLock(
    path.join(job.root, STORE_FOLDER, 'ns', job.namespace),
    DEFAULT_FILE_STORE_OPTIONS.lock,
    new Metrics(),
    silentLogger,
    shardIo('async'),
  );
  await lock.acquire();
  await send({ type: 'locked' });
  // Holds it (its mtime refreshed every staleMs / 2) until SIGKILL.
  setInterval(() => undefined, 60_000);
}

async function waiter(job: Extract<StoreJob, { mode: 'waiter' }>): Promise<void> {
  const store = await openStore(job.root, new Metrics());
  const by = { sessionId: `bench-${process.pid}`, clientName: 'store-bench', participantId: store.participantId };
  await store.set(job.namespace, job.key, -1, by);
  await send({ type: 'ready' });
  for (;;) {
    const m = await next('write', 'stop');
    if (m.type === 'stop') break;
    if (m.type !== 'write') continue;
    const t = performance.now();
    await store.set(job.namespace, job.key, m.i, by);
    await send({ type: 'acked', at: now(), latency: performance.now() - t });
  }
  await store.dispose();
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2]!) as StoreJob;
  if (!process.send) throw new Error('storeWorker runs with an IPC channel');
  switch (job.mode) {
    case 'update':
    case 'cas':
    case 'incr':
      return increments(job);
    case 'sqlite':
      return sqlite(job);
    case 'propWrite':
      return propWrite(job);
    case 'propRead':
      return propRead(job);
    case 'listen':
      return listen(job);
    case 'rawWrite':
      return rawWrite(job);
    case 'rawRead':
      return rawRead(job);
    case 'hold':
      return hold(job);
    case 'waiter':
      return waiter(job);
    case 'ceiling':
      return runCeiling(job, {
        ready: async () => {
          await send({ type: 'ready' });
          await next('go');
        },
        done: (r) => send({ type: 'done', ...r, conflicts: 0, metrics: {} }),
      });
  }
}

main().then(
  () => {
    // The hold job keeps running until it is killed; every other job is done.
    if ((JSON.parse(process.argv[2]!) as StoreJob).mode !== 'hold') process.exit(0);
  },
  (e: unknown) => {
    process.stderr.write(`storeWorker: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
