import * as nodeFs from 'node:fs';

/**
 * The file store's hot path (issue 11): what a write and a read do on disk,
 * written once as steps (`FsStep`) and run by one of two drivers.
 *
 * - `blocking`: synchronous calls, 3-5 µs of CPU each. For a process whose
 *   event loop is ours alone (`serve`, the CLI, the edit hook).
 * - `async`: the same calls through the thread pool, 30-40 µs each. For the
 *   extension host, whose loop every extension shares: it never waits on the
 *   disk there.
 *
 * A write is two calls: `lock` (take the shard's lock, then read what is new
 * in the log) and `commit` (append, check nobody else appended, release,
 * fdatasync). The lock is proper-lockfile's protocol, same folder and same
 * rules (see shardLock.ts), at a tenth of its cost.
 */

/** Where to look: CURRENT's path, and the open log (fd -1: none open) read from `offset`. */
export interface LookRequest {
  readonly current: string;
  readonly fd: number;
  readonly offset: number;
}

/** CURRENT's stamp (inode, mtime, size; '' when missing), the log's size (-1: no log) and its text past the offset. */
export interface Look {
  readonly stamp: string;
  readonly size: number;
  readonly text: string;
}

export interface LockRequest extends LookRequest {
  readonly lockDir: string;
  readonly staleMs: number;
  /** How long this one call may wait before it answers "busy". */
  readonly waitMs: number;
}

export type Locked = { locked: true; tries: number; tookOver: boolean; look: Look } | { locked: false; tries: number };

export interface CommitRequest {
  readonly fd: number;
  readonly text: string;
  readonly current: string;
  readonly lockDir: string;
  /** Release the lock once the log's size and CURRENT are read, before fdatasync (false: the caller still needs it). */
  readonly release: boolean;
}

export interface Committed {
  /** The log's size and CURRENT's stamp right after the append, still under the lock. */
  readonly size: number;
  readonly stamp: string;
  /** Whether the lock was still ours to release (false: another process took it over); undefined when not asked. */
  readonly released?: boolean;
  readonly writeError?: Error;
  readonly syncError?: Error;
}

export interface ShardIo {
  readonly mode: ShardIoMode;
  look(request: LookRequest): Promise<Look>;
  lock(request: LockRequest): Promise<Locked>;
  commit(request: CommitRequest): Promise<Committed>;
  /** False when the lock was gone already (taken over). */
  unlock(lockDir: string): Promise<boolean>;
}

export type ShardIoMode = 'blocking' | 'async';

// ---------------------------------------------------------------- the steps

interface FileFacts {
  ino: number;
  mtimeMs: number;
  size: number;
  isDirectory: boolean;
}

/** One file-system call; the driver answers with its result or throws its error into the steps. */
type FsStep =
  | { op: 'stat' | 'lstat'; path: string }
  | { op: 'fstat'; fd: number }
  | { op: 'read'; fd: number; length: number; position: number }
  | { op: 'write'; fd: number; bytes: Buffer }
  | { op: 'mkdir' | 'rmdir'; path: string }
  | { op: 'fdatasync'; fd: number }
  | { op: 'sleep'; ms: number }
  /** Several sequences of steps: the async driver runs them at once, the blocking one in this order. */
  | { op: 'all'; parts: Array<Steps<unknown>> };

type Steps<T> = Generator<FsStep, T, unknown>;

const isCode = (e: unknown, code: string): boolean => (e as NodeJS.ErrnoException).code === code;

function* factsOf(op: 'stat' | 'lstat', path: string): Steps<FileFacts | undefined> {
  try {
    return (yield { op, path }) as FileFacts;
  } catch (e) {
    if (isCode(e, 'ENOENT')) return undefined;
    throw e;
  }
}

function* stampOf(file: string): Steps<string> {
  const s = yield* factsOf('stat', file);
  return s ? `${s.ino}:${s.mtimeMs}:${s.size}` : '';
}

function* sizeOf(fd: number): Steps<number> {
  return ((yield { op: 'fstat', fd }) as FileFacts).size;
}

function* lookSteps(r: LookRequest): Steps<Look> {
  if (r.fd < 0) return { stamp: yield* stampOf(r.current), size: -1, text: '' };
  const [stamp, size] = (yield { op: 'all', parts: [stampOf(r.current), sizeOf(r.fd)] }) as [string, number];
  if (size <= r.offset) return { stamp, size, text: '' };
  const text = (yield { op: 'read', fd: r.fd, length: size - r.offset, position: r.offset }) as string;
  return { stamp, size, text };
}

/** One try: 'locked', 'tookOver' (a stale lock removed and ours made), or 'busy'. */
function* tryLock(dir: string, staleMs: number): Steps<'locked' | 'tookOver' | 'busy'> {
  try {
    yield { op: 'mkdir', path: dir };
    return 'locked';
  } catch (e) {
    if (!isCode(e, 'EEXIST')) throw e;
  }
  const held = yield* factsOf('lstat', dir);
  if (!held) return 'busy';
  if (!held.isDirectory) throw Object.assign(new Error(`${dir} is not a plain folder`), { code: 'UNSAFE_LOCK' });
  if (held.mtimeMs >= Date.now() - staleMs) return 'busy';
  // Its holder stopped refreshing it (killed or stopped): remove it, unless it changed since we looked.
  const again = yield* factsOf('lstat', dir);
  if (!again || again.ino !== held.ino || again.mtimeMs !== held.mtimeMs) return 'busy';
  try {
    yield { op: 'rmdir', path: dir };
    yield { op: 'mkdir', path: dir };
    return 'tookOver';
  } catch {
    return 'busy';
  }
}

function* lockSteps(r: LockRequest, firstWaitMs: number, maxWaitMs: number): Steps<Locked> {
  const until = Date.now() + r.waitMs;
  let wait = firstWaitMs;
  for (let tries = 1; ; tries++) {
    const got = yield* tryLock(r.lockDir, r.staleMs);
    if (got !== 'busy') return { locked: true, tries, tookOver: got === 'tookOver', look: yield* lookSteps(r) };
    if (Date.now() >= until) return { locked: false, tries };
    yield { op: 'sleep', ms: wait * (0.5 + Math.random()) };
    wait = Math.min(wait * 2, maxWaitMs);
  }
}

function* unlockSteps(dir: string): Steps<boolean> {
  try {
    yield { op: 'rmdir', path: dir };
    return true;
  } catch (e) {
    if (isCode(e, 'ENOENT')) return false;
    throw e;
  }
}

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

/** After the append, still under the lock: the log's size and CURRENT's stamp; then the release if asked. */
function* checkAndRelease(r: CommitRequest): Steps<{ size: number; stamp: string; released?: boolean }> {
  const [stamp, size] = (yield { op: 'all', parts: [stampOf(r.current), sizeOf(r.fd)] }) as [string, number];
  if (!r.release) return { size, stamp };
  return { size, stamp, released: yield* unlockSteps(r.lockDir) };
}

function* datasync(fd: number): Steps<Error | undefined> {
  try {
    yield { op: 'fdatasync', fd };
    return undefined;
  } catch (e) {
    return asError(e);
  }
}

function* commitSteps(r: CommitRequest): Steps<Committed> {
  try {
    yield { op: 'write', fd: r.fd, bytes: Buffer.from(r.text, 'utf8') };
  } catch (e) {
    const released = r.release ? yield* unlockSteps(r.lockDir) : undefined;
    return { size: -1, stamp: '', ...(released === undefined ? {} : { released }), writeError: asError(e) };
  }
  // The fdatasync overlaps the check and the release (blocking: it follows them), and the next holder's append;
  // its own fdatasync covers our lines too.
  const [checked, syncError] = (yield { op: 'all', parts: [checkAndRelease(r), datasync(r.fd)] }) as [
    { size: number; stamp: string; released?: boolean },
    Error | undefined,
  ];
  return { ...checked, ...(syncError ? { syncError } : {}) };
}

// ---------------------------------------------------------------- the drivers

const facts = (s: nodeFs.Stats): FileFacts => ({ ino: s.ino, mtimeMs: s.mtimeMs, size: s.size, isDirectory: s.isDirectory() });
const pause = new Int32Array(new SharedArrayBuffer(4));

function callSync(step: FsStep): unknown {
  switch (step.op) {
    case 'stat':
      return facts(nodeFs.statSync(step.path));
    case 'lstat':
      return facts(nodeFs.lstatSync(step.path));
    case 'fstat':
      return facts(nodeFs.fstatSync(step.fd));
    case 'read': {
      const buffer = Buffer.alloc(step.length);
      const read = nodeFs.readSync(step.fd, buffer, 0, step.length, step.position);
      return buffer.toString('utf8', 0, read);
    }
    case 'write':
      for (let at = 0; at < step.bytes.length;) at += nodeFs.writeSync(step.fd, step.bytes, at, step.bytes.length - at);
      return undefined;
    case 'mkdir':
      return nodeFs.mkdirSync(step.path);
    case 'rmdir':
      return nodeFs.rmdirSync(step.path);
    case 'fdatasync':
      return nodeFs.fdatasyncSync(step.fd);
    case 'sleep':
      return Atomics.wait(pause, 0, 0, step.ms);
    case 'all':
      return step.parts.map(runBlocking);
  }
}

async function callAsync(step: FsStep): Promise<unknown> {
  const fs = nodeFs.promises;
  switch (step.op) {
    case 'stat':
      return facts(await fs.stat(step.path));
    case 'lstat':
      return facts(await fs.lstat(step.path));
    case 'fstat':
      return facts(await new Promise<nodeFs.Stats>((resolve, reject) => nodeFs.fstat(step.fd, (e, s) => (e ? reject(e) : resolve(s)))));
    case 'read': {
      const buffer = Buffer.alloc(step.length);
      const read = await new Promise<number>((resolve, reject) =>
        nodeFs.read(step.fd, buffer, 0, step.length, step.position, (e, n) => (e ? reject(e) : resolve(n))),
      );
      return buffer.toString('utf8', 0, read);
    }
    case 'write':
      for (let at = 0; at < step.bytes.length;)
        at += await new Promise<number>((resolve, reject) =>
          nodeFs.write(step.fd, step.bytes, at, step.bytes.length - at, null, (e, n) => (e ? reject(e) : resolve(n))),
        );
      return undefined;
    case 'mkdir':
      return fs.mkdir(step.path);
    case 'rmdir':
      return fs.rmdir(step.path);
    case 'fdatasync':
      return new Promise<void>((resolve, reject) => nodeFs.fdatasync(step.fd, (e) => (e ? reject(e) : resolve())));
    case 'sleep':
      return new Promise((resolve) => setTimeout(resolve, step.ms));
    case 'all':
      return Promise.all(step.parts.map(runAsync));
  }
}

function runBlocking<T>(steps: Steps<T>): T {
  let next = steps.next();
  while (!next.done) {
    let result: unknown;
    try {
      result = callSync(next.value);
    } catch (e) {
      next = steps.throw(e);
      continue;
    }
    next = steps.next(result);
  }
  return next.value;
}

async function runAsync<T>(steps: Steps<T>): Promise<T> {
  let next = steps.next();
  while (!next.done) {
    let result: unknown;
    try {
      result = await callAsync(next.value);
    } catch (e) {
      next = steps.throw(e);
      continue;
    }
    next = steps.next(result);
  }
  return next.value;
}

/**
 * The hot path's I/O in `mode`. A waiter for the lock retries within a
 * fraction of a millisecond when blocking (a try costs 10 µs there); the
 * async driver's timers cannot wait less than a millisecond.
 */
export function shardIo(mode: ShardIoMode): ShardIo {
  if (mode === 'blocking') {
    return {
      mode,
      look: async (r) => runBlocking(lookSteps(r)),
      lock: async (r) => runBlocking(lockSteps(r, 0.05, 0.25)),
      commit: async (r) => runBlocking(commitSteps(r)),
      unlock: async (dir) => runBlocking(unlockSteps(dir)),
    };
  }
  return {
    mode,
    look: (r) => runAsync(lookSteps(r)),
    lock: (r) => runAsync(lockSteps(r, 2, 8)),
    commit: (r) => runAsync(commitSteps(r)),
    unlock: (dir) => runAsync(unlockSteps(dir)),
  };
}
