import * as nodeFs from 'node:fs';
import { Worker } from 'node:worker_threads';

/**
 * The file store's hot path (issue 11): what a write and a read do on disk,
 * written once as steps (`FsStep`) and run by one of three drivers.
 *
 * - `blocking`: synchronous calls, 3-5 µs of CPU each. For a process whose
 *   event loop is ours alone (`serve`, the CLI, the edit hook).
 * - `worker`: the blocking calls on a worker thread, one message each way
 *   per lock, look or commit. For the extension host, whose loop every
 *   extension shares: it never waits on the disk, and pays one round trip
 *   (about 40 µs) where `async` pays one thread-pool hop per call.
 * - `async`: the same calls through the thread pool, 30-40 µs each, without
 *   a thread of its own.
 *
 * A write is two calls: `lock` (take the shard's lock, then read what is new
 * in the log) and `commit` (append, check nobody else appended, release,
 * fdatasync). The lock is proper-lockfile's rules on an O_EXCL file (see
 * shardLock.ts), at a tenth of its cost.
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
  readonly lockFile: string;
  readonly staleMs: number;
  /** How long this one call may wait before it answers "busy". */
  readonly waitMs: number;
  /** What the lock file says while this hold lasts: another holder's lock says something else (HeldLock.stillOurs). */
  readonly token: string;
}

export type Locked = { locked: true; tries: number; tookOver: boolean; look: Look } | { locked: false; tries: number };

export interface CommitRequest {
  readonly fd: number;
  readonly text: string;
  readonly current: string;
  readonly lockFile: string;
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
  unlock(lockFile: string): Promise<boolean>;
}

export type ShardIoMode = 'blocking' | 'worker' | 'async';

// ---------------------------------------------------------------- the steps and drivers

interface FileFacts {
  ino: number;
  mtimeMs: number;
  size: number;
  kind: 'file' | 'folder' | 'other';
}

/** One file-system call; the driver answers with its result or throws its error into the steps. */
type FsStep =
  | { op: 'stat' | 'lstat'; path: string }
  | { op: 'fstat'; fd: number }
  | { op: 'read'; fd: number; length: number; position: number }
  | { op: 'write'; fd: number; bytes: Buffer }
  /** create: a file that must not exist yet (O_EXCL, so never through a link), `content` written, closed at once. */
  | { op: 'create'; path: string; content: string }
  | { op: 'unlink' | 'rmdir'; path: string }
  | { op: 'fdatasync'; fd: number }
  | { op: 'sleep'; ms: number }
  /** Several sequences of steps: the async and worker drivers run them at once, the blocking one in this order. */
  | { op: 'all'; parts: Array<Steps<unknown>> };

type Steps<T> = Generator<FsStep, T, unknown>;

/**
 * The steps and the drivers that run them, as one function that refers to
 * nothing outside itself but its argument: the worker thread runs this very
 * function's source (see FileWorker), so there is no second bundle to ship or
 * locate, and both threads run the same steps.
 */
function shardIoKernel(nodeFs: typeof import('node:fs')) {
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

  /**
   * One try: 'locked', 'tookOver' (a stale lock removed and ours made), or 'busy'. The lock is a file made with
   * O_EXCL; a folder of the same name is an older version's lock (mkdir), held the same way: each excludes the other.
   */
  function* tryLock(file: string, staleMs: number, lookFirst: boolean, token: string): Steps<'locked' | 'tookOver' | 'busy'> {
    // A waiter looks before it tries: a create that fails throws, and an exception costs several times the lstat.
    let held = lookFirst ? yield* factsOf('lstat', file) : undefined;
    if (!held) {
      try {
        yield { op: 'create', path: file, content: token };
        return 'locked';
      } catch (e) {
        if (!isCode(e, 'EEXIST')) throw e;
      }
      held = yield* factsOf('lstat', file);
      if (!held) return 'busy';
    }
    if (held.kind === 'other') throw Object.assign(new Error(`${file} is neither a file nor a folder`), { code: 'UNSAFE_LOCK' });
    if (held.mtimeMs >= Date.now() - staleMs) return 'busy';
    // Its holder stopped refreshing it (killed or stopped): remove it, unless it changed since we looked.
    const again = yield* factsOf('lstat', file);
    if (!again || again.ino !== held.ino || again.mtimeMs !== held.mtimeMs) return 'busy';
    try {
      yield { op: held.kind === 'folder' ? 'rmdir' : 'unlink', path: file };
      yield { op: 'create', path: file, content: token };
      return 'tookOver';
    } catch {
      return 'busy';
    }
  }

  function* lockSteps(r: LockRequest, firstWaitMs: number, maxWaitMs: number): Steps<Locked> {
    const until = Date.now() + r.waitMs;
    let wait = firstWaitMs;
    for (let tries = 1; ; tries++) {
      const got = yield* tryLock(r.lockFile, r.staleMs, tries > 1, r.token);
      if (got !== 'busy') return { locked: true, tries, tookOver: got === 'tookOver', look: yield* lookSteps(r) };
      if (Date.now() >= until) return { locked: false, tries };
      yield { op: 'sleep', ms: wait * (0.5 + Math.random()) };
      wait = Math.min(wait * 2, maxWaitMs);
    }
  }

  /** False when the lock was not ours any more: gone, or a folder (an older version took it over). */
  function* unlockSteps(file: string): Steps<boolean> {
    try {
      yield { op: 'unlink', path: file };
      return true;
    } catch (e) {
      if (isCode(e, 'ENOENT') || isCode(e, 'EISDIR') || isCode(e, 'EPERM')) return false;
      throw e;
    }
  }

  const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

  /** After the append, still under the lock: the log's size and CURRENT's stamp; then the release if asked. */
  function* checkAndRelease(r: CommitRequest): Steps<{ size: number; stamp: string; released?: boolean }> {
    const [stamp, size] = (yield { op: 'all', parts: [stampOf(r.current), sizeOf(r.fd)] }) as [string, number];
    if (!r.release) return { size, stamp };
    return { size, stamp, released: yield* unlockSteps(r.lockFile) };
  }

  function* datasync(fd: number): Steps<Error | undefined> {
    try {
      yield { op: 'fdatasync', fd };
      return undefined;
    } catch (e) {
      return asError(e);
    }
  }

  // failpoints.ts's places in here, read here because this function refers to nothing outside itself.
  const armed = (process.env.SESSION_COORDINATOR_FAILPOINT ?? '').split(',');
  let stopAfterWrite = armed.includes('shardIo.commit.write');
  let exitBeforeWrite = armed.includes('shardIo.worker.exit');

  function* commitSteps(r: CommitRequest): Steps<Committed> {
    if (exitBeforeWrite) {
      exitBeforeWrite = false;
      process.exit(1);
    }
    try {
      yield { op: 'write', fd: r.fd, bytes: Buffer.from(r.text, 'utf8') };
    } catch (e) {
      const released = r.release ? yield* unlockSteps(r.lockFile) : undefined;
      return { size: -1, stamp: '', ...(released === undefined ? {} : { released }), writeError: asError(e) };
    }
    if (stopAfterWrite) {
      stopAfterWrite = false;
      process.kill(process.pid, 'SIGSTOP');
    }
    // The fdatasync overlaps the check and the release (blocking: it follows them), and the next holder's append;
    // its own fdatasync covers our lines too.
    const [checked, syncError] = (yield { op: 'all', parts: [checkAndRelease(r), datasync(r.fd)] }) as [
      { size: number; stamp: string; released?: boolean },
      Error | undefined,
    ];
    return { ...checked, ...(syncError ? { syncError } : {}) };
  }

  const facts = (s: nodeFs.Stats): FileFacts => ({
    ino: s.ino,
    mtimeMs: s.mtimeMs,
    size: s.size,
    kind: s.isFile() ? 'file' : s.isDirectory() ? 'folder' : 'other',
  });
  const EXCLUSIVE = nodeFs.constants.O_CREAT | nodeFs.constants.O_EXCL | nodeFs.constants.O_WRONLY;
  const pause = new Int32Array(new SharedArrayBuffer(4));

  function callSync(step: FsStep): unknown {
    switch (step.op) {
      case 'stat':
      case 'lstat': {
        // Missing is an answer here, not an error: an exception would cost a waiter more than the call.
        const s = (step.op === 'stat' ? nodeFs.statSync : nodeFs.lstatSync)(step.path, { throwIfNoEntry: false });
        return s ? facts(s) : undefined;
      }
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
      case 'create': {
        const fd = nodeFs.openSync(step.path, EXCLUSIVE, 0o644);
        try {
          nodeFs.writeSync(fd, step.content);
        } catch (e) {
          // A disk full: not a lock left to go stale for staleMs.
          nodeFs.unlinkSync(step.path);
          throw e;
        } finally {
          nodeFs.closeSync(fd);
        }
        return;
      }
      case 'unlink':
        return nodeFs.unlinkSync(step.path);
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
      case 'create': {
        const handle = await fs.open(step.path, EXCLUSIVE, 0o644);
        try {
          await handle.writeFile(step.content);
        } catch (e) {
          await fs.unlink(step.path);
          throw e;
        } finally {
          await handle.close();
        }
        return;
      }
      case 'unlink':
        return fs.unlink(step.path);
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

  /** Runs steps, each answered by `call` (a value or a promise of one). */
  async function drive<T>(steps: Steps<T>, call: (step: FsStep) => unknown): Promise<T> {
    let next = steps.next();
    while (!next.done) {
      let result: unknown;
      try {
        result = await call(next.value);
      } catch (e) {
        next = steps.throw(e);
        continue;
      }
      next = steps.next(result);
    }
    return next.value;
  }

  function runAsync<T>(steps: Steps<T>): Promise<T> {
    return drive(steps, callAsync);
  }

  /** The worker thread's driver: the quick calls blocking, fdatasync and sleep not, so one thread serves every shard at once. */
  function runInWorker<T>(steps: Steps<T>): Promise<T> {
    return drive(steps, (step) => {
      if (step.op === 'fdatasync' || step.op === 'sleep') return callAsync(step);
      if (step.op === 'all') return Promise.all(step.parts.map(runInWorker));
      return callSync(step);
    });
  }

  return { lookSteps, lockSteps, commitSteps, unlockSteps, runBlocking, runAsync, runInWorker };
}

const kernel = shardIoKernel(nodeFs);

// ---------------------------------------------------------------- the worker thread

type WorkerCall = 'look' | 'lock' | 'commit' | 'unlock';
interface PlainError {
  message: string;
  code?: string;
  stack?: string;
}
type WorkerAnswer = { id: number; result: unknown } | { id: number; error: PlainError };

const fromPlain = (e: PlainError | Error): Error =>
  e instanceof Error
    ? e
    : Object.assign(new Error(e.message), e.code === undefined ? {} : { code: e.code }, e.stack ? { stack: e.stack } : {});

/** The worker's whole program: the kernel's own source (tsx's keepNames helper stubbed), and a loop over messages. */
function workerSource(): string {
  return `'use strict';
const __name = (target) => target;
const { parentPort } = require('node:worker_threads');
const k = (${shardIoKernel.toString()})(require('node:fs'));
const plain = (e) => (e ? { message: String(e.message ?? e), code: e.code, stack: e.stack } : undefined);
const steps = { look: (r) => k.lookSteps(r), lock: (r) => k.lockSteps(r, 2, 8), commit: (r) => k.commitSteps(r), unlock: (r) => k.unlockSteps(r) };
parentPort.on('message', ({ id, call, request }) => {
  k.runInWorker(steps[call](request)).then(
    (result) => parentPort.postMessage({ id, result: call === 'commit' ? { ...result, writeError: plain(result.writeError), syncError: plain(result.syncError) } : result }),
    (e) => parentPort.postMessage({ id, error: plain(e) }),
  );
});
`;
}

/**
 * The one worker thread of this process, started at its first call. It
 * keeps the process alive only while a call is out, and one that dies fails
 * what was out (its outcome unknown: a commit may have landed) and is
 * started again at the next call.
 */
class FileWorker {
  /** False once a worker thread could not be made here at all: the calls then go through the thread pool. */
  usable = true;
  private worker: Worker | undefined;
  private readonly out = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  private lastId = 0;
  private started = 0;

  call(call: WorkerCall, request: unknown): Promise<unknown> {
    const worker = this.worker ?? this.start();
    const id = ++this.lastId;
    return new Promise((resolve, reject) => {
      if (this.out.size === 0) worker.ref();
      this.out.set(id, { resolve, reject });
      worker.postMessage({ id, call, request });
    });
  }

  private start(): Worker {
    let worker: Worker;
    try {
      // A restarted thread arms no failpoint (failpoints.ts): each fires once per process.
      const env = this.started++ === 0 ? process.env : { ...process.env, SESSION_COORDINATOR_FAILPOINT: '' };
      worker = new Worker(workerSource(), { eval: true, name: 'session-coordinator file store', env });
    } catch (e) {
      this.usable = false;
      throw e;
    }
    worker.unref();
    worker.on('message', (m: WorkerAnswer) => {
      const waiter = this.out.get(m.id);
      if (!waiter) return;
      this.out.delete(m.id);
      if (this.out.size === 0) worker.unref();
      if ('error' in m) waiter.reject(fromPlain(m.error));
      else waiter.resolve(m.result);
    });
    const stopped = (why: string): void => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      const error = new Error(`The file store's worker thread stopped (${why}); what it was doing may or may not have been written`);
      for (const waiter of this.out.values()) waiter.reject(error);
      this.out.clear();
    };
    worker.on('error', (e) => stopped(e.message));
    worker.on('exit', (code) => stopped(`exit code ${code}`));
    this.worker = worker;
    return worker;
  }
}

let fileWorker: FileWorker | undefined;

function viaWorker(): ShardIo {
  const worker = (fileWorker ??= new FileWorker());
  const { lookSteps, lockSteps, commitSteps, unlockSteps, runAsync } = kernel;
  const via = <T>(call: WorkerCall, request: unknown, here: () => Promise<T>): Promise<T> => {
    if (worker.usable) {
      try {
        return worker.call(call, request) as Promise<T>;
      } catch {
        // No worker thread can be made in this process (start() said so): the thread pool, from now on.
      }
    }
    return here();
  };
  return {
    mode: 'worker',
    look: (r) => via('look', r, () => runAsync(lookSteps(r))),
    lock: (r) => via('lock', r, () => runAsync(lockSteps(r, 2, 8))),
    commit: async (r) => {
      const c = (await via('commit', r, () => runAsync(commitSteps(r)))) as Omit<Committed, 'writeError' | 'syncError'> & {
        writeError?: PlainError | Error;
        syncError?: PlainError | Error;
      };
      const { writeError, syncError, ...rest } = c;
      return {
        ...rest,
        ...(writeError ? { writeError: fromPlain(writeError) } : {}),
        ...(syncError ? { syncError: fromPlain(syncError) } : {}),
      };
    },
    unlock: (file) => via('unlock', file, () => runAsync(unlockSteps(file))),
  };
}

/**
 * The hot path's I/O in `mode`. A waiter for the lock retries within a
 * fraction of a millisecond when blocking (a try costs 10 µs there); the
 * other drivers' timers cannot wait less than a millisecond.
 */
export function shardIo(mode: ShardIoMode): ShardIo {
  const { lookSteps, lockSteps, commitSteps, unlockSteps, runBlocking, runAsync } = kernel;
  if (mode === 'blocking') {
    return {
      mode,
      look: async (r) => runBlocking(lookSteps(r)),
      lock: async (r) => runBlocking(lockSteps(r, 0.05, 0.25)),
      commit: async (r) => runBlocking(commitSteps(r)),
      unlock: async (file) => runBlocking(unlockSteps(file)),
    };
  }
  if (mode === 'worker') return viaWorker();
  return {
    mode,
    look: (r) => runAsync(lookSteps(r)),
    lock: (r) => runAsync(lockSteps(r, 2, 8)),
    commit: (r) => runAsync(commitSteps(r)),
    unlock: (file) => runAsync(unlockSteps(file)),
  };
}
