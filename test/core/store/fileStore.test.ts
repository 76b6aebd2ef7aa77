import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import * as path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { after, test } from 'node:test';
import * as lockfile from 'proper-lockfile';
import { Coordinator } from '../../../src/core/coordinator.js';
import { isCoordinatorError } from '../../../src/core/errors.js';
import { silentLogger } from '../../../src/core/logging/logger.js';
import { Metrics } from '../../../src/core/metrics/metrics.js';
import type { ParticipantSession } from '../../../src/core/store/actors.js';
import { FileStore, type FileStoreOptions } from '../../../src/core/store/file/fileStore.js';
import { shardIo } from '../../../src/core/store/file/shardIo.js';
import { ShardLock } from '../../../src/core/store/file/shardLock.js';
import { STORE_FOLDER } from '../../../src/core/store/file/storeLayout.js';
import { encodeLine } from '../../../src/core/store/file/walFormat.js';
import { workerScript } from '../../support/bundle.js';
import { buildWorker } from '../../support/storeWorkers.js';
import { tempDir } from '../../support/workspace.js';

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

async function openStore(
  root?: string,
  options: Partial<FileStoreOptions> = {},
): Promise<{ store: FileStore; metrics: Metrics; root: string }> {
  let dir = root;
  if (!dir) {
    const t = tempDir();
    cleanup.push(t.remove);
    dir = t.path;
  }
  const metrics = new Metrics();
  const store = await FileStore.open({
    projectRoot: dir,
    participant: { kind: 'headless', label: 'test' },
    metrics,
    logger: silentLogger,
    options: { pollMs: 60_000, ...options },
  });
  cleanup.push(() => store.dispose());
  return { store, metrics, root: dir };
}

const by = { sessionId: 's1', clientName: 'tester', participantId: 'p1' };

for (const io of ['blocking', 'worker', 'async'] as const) {
  test(`R-SEC-1, R-CTX-1 (issue 11, ${io} file calls): eight agents of one window writing without pause keep one commit turn queued, not one per write: the heap stays flat`, async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const { store } = await openStore(undefined, { io });
    const heapMb: number[] = [];
    const total = 8000;
    let done = 0;
    await Promise.all(
      Array.from({ length: 8 }, async (_, agent) => {
        while (done < total) {
          await store.update('hot', 'k', (c) => ((c?.value as number | undefined) ?? 0) + 1, by);
          done++;
          // Measured while the writes go on: a backlog drains once they stop.
          if (agent === 0 && ((done >= 2000 && heapMb.length === 0) || (done >= 7000 && heapMb.length === 1))) {
            gc();
            heapMb.push(process.memoryUsage().heapUsed / 1e6);
          }
        }
      }),
    );
    assert.equal((await store.get('hot', 'k'))?.value, done, 'every write applied once');
    assert.equal(heapMb.length, 2);
    const grew = heapMb[1]! - heapMb[0]!;
    // A turn per write kept ~2.4 KB each: some 12 MB over these 5,000 writes.
    assert.ok(grew < 4, `heap grew ${grew.toFixed(1)} MB over 5,000 writes (${heapMb.map((m) => m.toFixed(1)).join(' -> ')} MB)`);
    console.log(`# [${io}] heap while 8 agents write: ${heapMb.map((m) => m.toFixed(1)).join(' -> ')} MB over 5,000 writes`);
  });
}

test('R-CTX-1: the store lives in the workspace, never committed, one folder per namespace', async () => {
  const { store, root } = await openStore();
  await store.set('notes', 'a', 1, by);
  await store.set('plans', 'b', 2, by);
  const dir = path.join(root, STORE_FOLDER);
  assert.equal(readFileSync(path.join(dir, '.gitignore'), 'utf8').trim().split('\n').at(-1), '*');
  assert.deepEqual(
    readdirSync(path.join(dir, 'ns'))
      .filter((n) => !n.startsWith('_'))
      .sort(),
    ['notes', 'plans'],
  );
  assert.ok(existsSync(path.join(dir, 'ns', 'notes', 'CURRENT')));
  await assert.rejects(store.set('../escape', 'k', 1, by), (e) => isCoordinatorError(e, 'InvalidArgument') && /Namespace/.test(e.message));
});

test('R-CTX-2: a write locks only its own shard', async () => {
  const { store, root } = await openStore(undefined, { lock: { staleMs: 5000, timeoutMs: 300 } });
  await store.set('busy', 'k', 1, by);
  await store.set('free', 'k', 1, by);
  // Another process holds the busy shard's lock.
  const release = await lockfile.lock(path.join(root, STORE_FOLDER, 'ns', 'busy'), {
    lockfilePath: path.join(root, STORE_FOLDER, 'ns', 'busy', '.lock'),
    realpath: false,
  });
  const started = performance.now();
  await store.set('free', 'k', 2, by);
  assert.ok(performance.now() - started < 250, 'the other shard did not wait');
  await assert.rejects(store.set('busy', 'k', 2, by), (e) => isCoordinatorError(e, 'LockTimeout') && e.message.includes('busy'));
  await release();
  assert.equal((await store.set('busy', 'k', 3, by)).version, 2);
});

for (const io of ['worker', 'async', 'blocking'] as const) {
  test(`R-CTX-1, R-CTX-4 (issue 11, ${io} file calls): the shard lock (an O_EXCL file) and proper-lockfile's folder exclude each other, a stale one of either kind is taken over, a link where the lock goes is refused`, async () => {
    const staleMs = 2000;
    const { store, metrics, root } = await openStore(undefined, { io, lock: { staleMs, timeoutMs: 300 } });
    const shard = path.join(root, STORE_FOLDER, 'ns', 'ns');
    const lockPath = path.join(shard, '.lock');
    const properLock = () => lockfile.lock(shard, { lockfilePath: lockPath, realpath: false, stale: staleMs, retries: 0 });
    await store.set('ns', 'k', 1, by);
    assert.ok(!existsSync(lockPath), 'released after the write');
    // proper-lockfile (an older version's process) cannot take it while we hold it...
    const ours = await new ShardLock(shard, { staleMs, timeoutMs: 300 }, new Metrics(), silentLogger, shardIo(io)).acquire();
    assert.ok(lstatSync(lockPath).isFile(), 'our lock is a file');
    await assert.rejects(properLock(), { code: 'ELOCKED' });
    await ours.release();
    assert.ok(!existsSync(lockPath), 'released by unlink');
    // ...and we cannot take it while proper-lockfile holds its folder: the write waits, then is refused by name.
    const theirs = await properLock();
    await assert.rejects(store.set('ns', 'k', 2, by), (e) => isCoordinatorError(e, 'LockTimeout') && e.message.includes(shard));
    await theirs();
    assert.equal((await store.set('ns', 'k', 2, by)).version, 2);
    // Holders killed long ago, an older version's folder and one of ours: each taken over at once.
    const old = new Date(Date.now() - 3 * staleMs);
    for (const [plant, version] of [[() => mkdirSync(lockPath), 3] as const, [() => writeFileSync(lockPath, ''), 4] as const]) {
      plant();
      utimesSync(lockPath, old, old);
      const started = performance.now();
      assert.equal((await store.set('ns', 'k', version, by)).version, version);
      assert.ok(performance.now() - started < 250, 'a stale lock is not waited for');
      assert.ok(!existsSync(lockPath), 'and ours is released after the write');
    }
    assert.equal(metrics.snapshot()['store.lock.takeovers'], 2);
    // A fresh one is waited for, then refused with the shard named.
    writeFileSync(lockPath, '');
    await assert.rejects(store.set('ns', 'k', 5, by), (e) => isCoordinatorError(e, 'LockTimeout') && e.message.includes(shard));
    rmSync(lockPath);
    // A link planted where the lock goes is refused by name, never followed or removed, fresh or stale.
    const target = path.join(root, 'planted.txt');
    writeFileSync(target, 'planted');
    symlinkSync(target, lockPath);
    lutimesSync(lockPath, old, old);
    await assert.rejects(store.set('ns', 'k', 5, by), (e) => isCoordinatorError(e, 'UnsafeStorePath') && e.message.includes(lockPath));
    assert.ok(lstatSync(lockPath).isSymbolicLink(), 'the link is left where it is');
    assert.equal(readFileSync(target, 'utf8'), 'planted');
    rmSync(lockPath);
    assert.equal((await store.set('ns', 'k', 5, by)).version, 5);
  });
}

test('R-CTX-4 (issue 11): a lock held past staleMs is kept fresh by its holder and never taken over; once released it is free at once', async () => {
  const staleMs = 400;
  const { store, root } = await openStore();
  await store.set('ns', 'k', 1, by);
  const shard = path.join(root, STORE_FOLDER, 'ns', 'ns');
  const lock = (timeoutMs: number): ShardLock =>
    new ShardLock(shard, { staleMs, timeoutMs }, new Metrics(), silentLogger, shardIo('async'));
  const held = await lock(1000).acquire();
  const started = performance.now();
  // Another holder (a process that thinks the first one is dead after staleMs) waits three staleMs, and must not get it.
  // Refused naming the holder: its pid is the first part of the token in the lock file.
  await assert.rejects(
    lock(3 * staleMs).acquire(),
    (e) => isCoordinatorError(e, 'LockTimeout') && e.message.includes(`process ${process.pid} holds it`),
  );
  assert.ok(performance.now() - started >= 3 * staleMs, 'it waited');
  const age = Date.now() - lstatSync(path.join(shard, '.lock')).mtimeMs;
  assert.ok(age < staleMs, `refreshed while held (mtime ${Math.round(age)} ms old)`);
  await held.release();
  const next = await lock(100).acquire();
  await next.release();
});

test("R-CTX-4 (issue 11): a holder whose lock was taken over meanwhile (a folder there now: an older version's, or proper-lockfile's) releases nothing and counts it compromised, in every io mode", async () => {
  const { store, root } = await openStore();
  await store.set('ns', 'k', 1, by);
  const shard = path.join(root, STORE_FOLDER, 'ns', 'ns');
  const lockPath = path.join(shard, '.lock');
  for (const io of ['blocking', 'worker', 'async'] as const) {
    const metrics = new Metrics();
    const held = await new ShardLock(shard, { staleMs: 5000, timeoutMs: 300 }, metrics, silentLogger, shardIo(io)).acquire();
    // Taken over while we were stopped: our file judged stale and replaced by the taker's folder.
    rmSync(lockPath);
    mkdirSync(lockPath);
    await held.release();
    assert.equal(metrics.snapshot()['store.lock.compromised'], 1, `${io}: counted`);
    assert.ok(lstatSync(lockPath).isDirectory(), `${io}: the taker's lock is left alone`);
    await held.release();
    assert.equal(metrics.snapshot()['store.lock.compromised'], 1, `${io}: released once`);
    rmSync(lockPath, { recursive: true });
  }
  assert.equal((await store.set('ns', 'k', 2, by)).version, 2, 'the shard works on');
});

test('issue 11: a window (file calls on a worker thread, or async) keeps its event loop free while a write waits for a lock held elsewhere; a headless process (blocking calls) gives it a turn every few milliseconds', async () => {
  for (const io of ['worker', 'async', 'blocking'] as const) {
    const { store, root } = await openStore(undefined, { io, lock: { staleMs: 5000, timeoutMs: 5000 } });
    await store.set('ns', 'k', 1, by);
    const lockDir = path.join(root, STORE_FOLDER, 'ns', 'ns', '.lock');
    mkdirSync(lockDir);
    let last = performance.now();
    let worst = 0;
    let stalled = 0;
    const tick = setInterval(() => {
      const now = performance.now();
      worst = Math.max(worst, now - last);
      stalled += Math.max(0, now - last - 2);
      last = now;
    }, 1);
    // The other process lets go after 400 ms; meanwhile the write waits and the loop should keep ticking.
    const letGo = setTimeout(() => rmdirSync(lockDir), 400);
    const started = performance.now();
    await store.set('ns', 'k', 2, by);
    const waited = performance.now() - started;
    clearInterval(tick);
    clearTimeout(letGo);
    assert.ok(waited >= 350, `${io}: the write waited for the lock (${waited.toFixed(0)} ms)`);
    const share = stalled / waited;
    if (io !== 'blocking') assert.ok(share < 0.25, `${io}: the loop was stalled ${(share * 100).toFixed(0)}% of the wait`);
    else
      assert.ok(share > 0.25 && worst < 60, `blocking: stalled ${(share * 100).toFixed(0)}% of the wait, ${worst.toFixed(1)} ms at most`);
  }
});

/** Folders this process watches: inotify's watch descriptors, from /proc (each fs.watch of a folder is one). */
function inotifyWatches(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      n += readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('inotify wd:')).length;
    } catch {
      // Closed between the listing and the read.
    }
  }
  return n;
}

test('R-CTX-6 (issue 11): a namespace folder is watched only while its changes are wanted: the claims always, a context namespace while watchChanges() holds it', async () => {
  const { store } = await openStore();
  const base = inotifyWatches();
  await store.set('notes', 'k', 1, by);
  assert.equal(inotifyWatches(), base, "a namespace nobody watches: no watch, so others' writes to it cost nothing here");
  await store.acquireClaim('src/a.ts', by, 60_000);
  assert.equal(inotifyWatches(), base + 1, 'the claims are always watched');
  const watching = store.watchChanges('notes');
  const all = store.watchChanges();
  assert.equal(inotifyWatches(), base + 2, 'watched while someone listens');
  watching.dispose();
  assert.equal(inotifyWatches(), base + 2, 'still wanted: watchChanges() of every namespace');
  all.dispose();
  assert.equal(inotifyWatches(), base + 1, 'and let go when nobody does');
});

test('R-CTX-3: versions and compare-and-set; a conflict names the key, the expected and the current version', async () => {
  const { store } = await openStore();
  assert.equal(await store.get('ns', 'k'), undefined);
  assert.equal((await store.set('ns', 'k', 'a', by, { expectedVersion: 0 })).version, 1);
  assert.equal((await store.set('ns', 'k', 'b', by, { expectedVersion: 1 })).version, 2);
  await assert.rejects(store.set('ns', 'k', 'c', by, { expectedVersion: 1 }), (e: unknown) => {
    assert.ok(isCoordinatorError(e, 'VersionConflict'));
    assert.match(e.message, /ns\/k: expected version 1, current version is 2/);
    return true;
  });
  assert.equal((await store.get('ns', 'k'))?.value, 'b', 'a refused write changes nothing');
  assert.deepEqual(await store.delete('ns', 'k', by, { expectedVersion: 2 }), { deleted: true, version: 3 });
  await assert.rejects(
    store.set('ns', 'k', 'd', by, { expectedVersion: 2 }),
    (e) => isCoordinatorError(e, 'VersionConflict'),
    'no ABA after a delete',
  );
  assert.equal((await store.set('ns', 'k', 'd', by, { expectedVersion: 0 })).version, 4);
  await assert.rejects(store.set('ns', 'big', 'x'.repeat(1024 * 1024 + 1), by), (e) => isCoordinatorError(e, 'ValueTooLarge'));
});

test('R-CTX-4: a corrupt snapshot (truncated, garbage, wrong shape) is detected, restored from backups and the log, and counted', async () => {
  for (const corruption of ['truncated', 'garbage', 'wrong-shape'] as const) {
    const { store, root } = await openStore(undefined, { rotateBytes: 2048 });
    for (let i = 0; i < 60; i++) await store.set('ns', `k${i}`, { i }, by);
    await store.dispose();
    const shard = path.join(root, STORE_FOLDER, 'ns', 'ns');
    const current = Number(readFileSync(path.join(shard, 'CURRENT'), 'utf8'));
    assert.ok(current > 3, 'rotated several times');
    const snapshot = path.join(shard, `snapshot.${current}.json`);
    const good = readFileSync(snapshot, 'utf8');
    writeFileSync(
      snapshot,
      corruption === 'truncated'
        ? good.slice(0, good.length / 2)
        : corruption === 'garbage'
          ? '\u0000\u00ff garbage'
          : JSON.stringify({ format: 1, entries: [1, 2, 3] }),
    );
    const reopened = await openStore(root, { rotateBytes: 2048 });
    const listed = await reopened.store.list('ns');
    assert.equal(listed.length, 60, `${corruption}: every key is back`);
    assert.deepEqual(listed.find((e) => e.key === 'k59')?.value, { i: 59 });
    const m = reopened.metrics.snapshot();
    assert.ok(Number(m['store.corruptionDetected']) >= 1, `${corruption}: detected`);
    assert.ok(Number(m['store.recoveries']) >= 1, `${corruption}: recovered`);
    assert.doesNotThrow(() => JSON.parse(readFileSync(snapshot, 'utf8')), 'the repaired snapshot was written back');
  }
});

test('R-CTX-4: a torn or flipped log line is skipped, and later writes still land', async () => {
  const { store, root, metrics } = await openStore();
  await store.set('ns', 'a', 1, by);
  const wal = path.join(root, STORE_FOLDER, 'ns', 'ns', 'wal.1.log');
  writeFileSync(wal, readFileSync(wal, 'utf8') + '0badc0de {"n":"half', { flag: 'w' });
  await store.set('ns', 'b', 2, by);
  assert.equal((await store.get('ns', 'b'))?.value, 2);
  const fresh = await openStore(root);
  assert.deepEqual(
    (await fresh.store.list('ns')).map((e) => e.key),
    ['a', 'b'],
  );
  assert.ok(Number(fresh.metrics.snapshot()['store.tornRecords']) >= 1);
  assert.ok(metrics.snapshot()['store.writes']);
});

test('R-CTX-4: a symlink planted at a shard path pointing outside is refused by name, and nothing outside is written', async () => {
  const { store, root } = await openStore();
  const outside = tempDir('sc-outside-');
  cleanup.push(outside.remove);
  symlinkSync(outside.path, path.join(root, STORE_FOLDER, 'ns', 'evil'));
  await assert.rejects(
    store.set('evil', 'k', 1, by),
    (e: unknown) => isCoordinatorError(e, 'UnsafeStorePath') && e.message.includes(path.join(STORE_FOLDER, 'ns', 'evil')),
  );
  assert.deepEqual(readdirSync(outside.path), [], 'nothing written outside the store');
  // A symlinked log file inside a real shard folder is refused too.
  await store.set('ok', 'k', 1, by);
  const shard = path.join(root, STORE_FOLDER, 'ns', 'planted');
  mkdirSync(shard);
  writeFileSync(path.join(shard, 'CURRENT'), '1\n');
  symlinkSync(path.join(outside.path, 'target.log'), path.join(shard, 'wal.1.log'));
  await assert.rejects(store.set('planted', 'k', 1, by), (e) => isCoordinatorError(e, 'UnsafeStorePath'));
  assert.deepEqual(readdirSync(outside.path), []);
});

test('R-CTX-5: the event log keeps who, what, when and the previous value; rotation keeps it bounded with no record lost or duplicated', async () => {
  // A small namespace against its log budget (the defaults' proportions: 1 MiB logs, snapshots of a few KB), so it keeps 3 backups.
  const { store, root, metrics } = await openStore(undefined, { rotateBytes: 16_384, maxEventLogBytes: 65_536, backups: 3 });
  for (let i = 0; i < 300; i++) await store.set('log', `k${i % 7}`, { i, pad: 'x'.repeat(400) }, { ...by, sessionId: `s${i % 3}` });
  const page = await store.history({ namespace: 'log', limit: 5 });
  assert.ok(page.records.length > 0);
  const oldestKept = page.records[0]!.seq;
  let cursor = page.nextCursor;
  const seqs = page.records.map((r) => r.seq);
  for (;;) {
    const next = await store.history({ namespace: 'log', cursor, limit: 50 });
    if (next.records.length === 0) break;
    seqs.push(...next.records.map((r) => r.seq));
    cursor = next.nextCursor;
  }
  assert.equal(seqs.at(-1), 300, 'reads on to the newest record');
  assert.deepEqual(
    seqs,
    Array.from({ length: 300 - oldestKept + 1 }, (_, i) => oldestKept + i),
    'no gap, no duplicate',
  );
  const last = (await store.history({ namespace: 'log', cursor: Buffer.from(JSON.stringify({ log: 298 })).toString('base64url') })).records;
  assert.deepEqual(
    last.map((r) => [r.seq, r.key, r.op, r.by.sessionId]),
    [
      [299, 'k4', 'set', 's1'],
      [300, 'k5', 'set', 's2'],
    ],
  );
  assert.deepEqual(last[1]!.previousValue, { i: 292, pad: 'x'.repeat(400) });
  assert.equal(last[1]!.previousVersion + 1, last[1]!.version);
  const status = await store.status();
  assert.ok(status.eventLogBytes <= 65_536 + 16_384, `bounded: ${status.eventLogBytes} bytes`);
  assert.ok(Number(metrics.snapshot()['store.archivesPruned']) > 0, 'old archives were pruned');
  const shard = path.join(root, STORE_FOLDER, 'ns', 'log');
  assert.ok(readdirSync(shard).filter((n) => n.startsWith('snapshot.')).length >= 4, 'the current snapshot and 3 backups are kept');
  await assert.rejects(store.history({ cursor: 'not-a-cursor' }), (e) => isCoordinatorError(e, 'InvalidArgument'));
});

/** Bytes in one namespace's folder, and the bytes of keys and values it holds. */
function diskOf(root: string, namespace: string): number {
  const dir = path.join(root, STORE_FOLDER, 'ns', namespace);
  return readdirSync(dir).reduce((sum, n) => sum + statSync(path.join(dir, n)).size, 0);
}

test('R-SEC-1, R-CTX-4, R-CTX-5: disk use stays under 3x what a large namespace holds (growing, rewritten, then emptied), a backup still restores a corrupt snapshot, and history reads on with the previous values', async () => {
  const MiB = 1024 * 1024;
  // The case (40 values of 900 KB) at a third of the size, which keeps the test quick: the bound is a ratio.
  // The floor for small namespaces is the event log's bound plus a few logs; kept low here.
  const options = { maxNamespaceBytes: 64 * MiB, maxStoreBytes: 128 * MiB, maxEventLogBytes: MiB };
  const floor = MiB + 4 * MiB;
  const { store, root, metrics } = await openStore(undefined, options);
  const value = (i: number, round: number): string => `${round}:${i}:`.padEnd(300 * 1024, 'x');
  const held = new Map<string, number>();
  const heldBytes = (): number => [...held.values()].reduce((a, b) => a + b, 0);
  let peak = 0;
  const check = (step: string): void => {
    const disk = diskOf(root, 'big');
    peak = Math.max(peak, disk / heldBytes());
    assert.ok(disk <= Math.max(3 * heldBytes(), floor) + MiB, `${step}: ${disk} bytes on disk for ${heldBytes()} held`);
  };
  for (let i = 0; i < 40; i++) {
    await store.set('big', `k${i}`, value(i, 0), by);
    held.set(`k${i}`, Buffer.byteLength(JSON.stringify(value(i, 0))) + 3);
    check(`growing, ${i + 1} values`);
  }
  const grown = diskOf(root, 'big');
  assert.ok(grown < 3 * heldBytes(), `after 40 values: ${(grown / heldBytes()).toFixed(2)} x what is held (5.5 x before the bound)`);
  // Rewritten over and over: the disk follows what is held, not how often it changed.
  for (let round = 1; round <= 3; round++) {
    for (let i = 0; i < 40; i += 3) {
      await store.set('big', `k${i}`, value(i, round), by);
      check(`round ${round}, k${i}`);
    }
  }
  assert.ok(Number(metrics.snapshot()['store.rotations']) > 3, 'rotated along the way');
  const shard = path.join(root, STORE_FOLDER, 'ns', 'big');
  const current = Number(readFileSync(path.join(shard, 'CURRENT'), 'utf8'));
  assert.ok(
    readdirSync(shard).some((n) => /^snapshot\.\d+\.json$/.test(n) && n !== `snapshot.${current}.json`),
    'a backup snapshot is kept even this large',
  );
  // History: contiguous to the newest record, with the previous values.
  const page = await store.history({ namespace: 'big', limit: 1000 });
  const seqs = page.records.map((r) => r.seq);
  assert.deepEqual(
    seqs,
    Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i),
    'no gap',
  );
  assert.equal(seqs.at(-1), 40 + 3 * 14, 'reads on to the newest record');
  const last = page.records.at(-1)!;
  assert.equal(last.key, 'k39');
  assert.equal(last.previousValue, value(39, 2));
  await store.dispose();
  // A corrupt current snapshot is restored from the backup and the logs since.
  writeFileSync(path.join(shard, `snapshot.${current}.json`), 'garbage');
  const reopened = await openStore(root, options);
  assert.equal((await reopened.store.get('big', 'k39'))?.value, value(39, 3), 'every value is back');
  assert.equal((await reopened.store.get('big', 'k1'))?.value, value(1, 0));
  assert.equal(Number(reopened.metrics.snapshot()['store.recoveries']), 1);
  // Emptied: deletes fold a snapshot that held much more, and the disk shrinks with it.
  for (let i = 0; i < 36; i++) {
    await reopened.store.delete('big', `k${i}`, by);
    held.delete(`k${i}`);
  }
  await reopened.store.set('big', 'after', 1, by);
  const emptied = diskOf(root, 'big');
  assert.ok(
    emptied <= Math.max(3 * heldBytes(), floor) + MiB,
    `after deleting 36 of 40: ${emptied} bytes for ${heldBytes()} held (before: ${grown})`,
  );
  assert.ok(peak < 3, `peak ${peak.toFixed(2)} x`);
});

test("R-SEC-1: many small namespaces share the store's log budget: rewriting one key in each of 16 keeps a few MB on disk, not each namespace's full floor", async () => {
  const KiB = 1024;
  const MiB = 1024 * KiB;
  // Each namespace's own floor: a 1 MiB event log plus 4 logs of 256 KiB, 2 MiB; the store's budget: 2 MiB in all.
  const options = { rotateBytes: 256 * KiB, maxEventLogBytes: MiB, backups: 3, maxStoreLogBytes: 2 * MiB };
  const { store, root } = await openStore(undefined, options);
  const names = Array.from({ length: 16 }, (_, i) => `tiny${i}`);
  const value = (round: number): string => `${round}:`.padEnd(32 * KiB, 'x');
  // A hostile agent's pattern: one small key per namespace, rewritten until each fills its own floor.
  const rounds = 48;
  for (let round = 0; round < rounds; round++) await Promise.all(names.map((ns) => store.set(ns, 'k', value(round), by)));
  const total = names.reduce((sum, ns) => sum + diskOf(root, ns), 0);
  // Without the shared budget each keeps its event log and backups' logs: 14.1 MiB measured. Its share: 3.6 MiB.
  assert.ok(total < 7 * MiB, `${(total / MiB).toFixed(1)} MiB on disk for 16 namespaces holding 32 KiB each`);
  for (const ns of names) assert.equal((await store.get(ns, 'k'))?.value, value(rounds - 1), `${ns} holds its last value`);
  const page = await store.history({ namespace: 'tiny0', limit: 1000 });
  assert.ok(page.records.length >= 2, 'history still reads back a few records');
  assert.equal(page.records.at(-1)?.previousValue, value(rounds - 2));
});

test('R-CTX-4, R-CTX-5: history and recovery replay the kept logs from the oldest kept snapshot, across logs whose own snapshots were pruned', async () => {
  // One backup snapshot, many logs: the logs between keep no snapshot of their own.
  const options = { rotateBytes: 2048, maxEventLogBytes: 32_768, backups: 1 };
  const { store, root } = await openStore(undefined, options);
  for (let i = 0; i < 400; i++) await store.set('thin', `k${i % 5}`, { i, pad: 'x'.repeat(60) }, by);
  const shard = path.join(root, STORE_FOLDER, 'ns', 'thin');
  const kept = readdirSync(shard);
  const logs = kept.filter((n) => /^wal\.\d+\.log$/.test(n));
  const bare = logs.filter((n) => !kept.includes(n.replace(/^wal\.(\d+)\.log$/, 'snapshot.$1.json')));
  assert.ok(bare.length >= 3, `several kept logs have no snapshot of their own: ${kept.join(' ')}`);
  const records = (await store.history({ namespace: 'thin', limit: 1000 })).records;
  const seqs = records.map((r) => r.seq);
  assert.ok(seqs[0]! < 400 - 50, `history reaches back across those logs (from seq ${seqs[0]})`);
  assert.deepEqual(
    seqs,
    Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i),
    'no gap, no duplicate',
  );
  assert.equal(seqs.at(-1), 400);
  assert.deepEqual(records.at(-1)!.previousValue, { i: 394, pad: 'x'.repeat(60) }, 'the previous value, carried by the replay');
  await store.dispose();
  // The current snapshot lost: rebuilt from the one kept backup and every log since.
  const current = Number(readFileSync(path.join(shard, 'CURRENT'), 'utf8'));
  writeFileSync(path.join(shard, `snapshot.${current}.json`), 'garbage');
  const reopened = await openStore(root, options);
  assert.deepEqual(
    (await reopened.store.list('thin')).map((e) => [e.key, (e.value as { i: number }).i]),
    [
      ['k0', 395],
      ['k1', 396],
      ['k2', 397],
      ['k3', 398],
      ['k4', 399],
    ],
  );
  assert.equal((await reopened.store.get('thin', 'k4'))?.version, 80);
});

test('R-CTX-8: when the store cannot work the coordinator is local-only, says so, and keeps serving sessions', async () => {
  const ws = tempDir();
  cleanup.push(ws.remove);
  writeFileSync(path.join(ws.path, STORE_FOLDER), 'a file where the store folder should be');
  const warnings: string[] = [];
  const c = new Coordinator({
    logger: { ...silentLogger, warn: (m: string) => void warnings.push(m) },
    allowedRoots: [ws.path],
    openStore: (projectRoot, metrics) =>
      FileStore.open({ projectRoot, participant: { kind: 'headless', label: 't' }, metrics, logger: silentLogger }),
  });
  cleanup.push(() => c.dispose());
  assert.equal((await c.start()).status, 'ok', 'sessions are still served');
  const snap = await c.snapshot();
  assert.equal(snap.store.degraded, true);
  assert.equal(snap.store.kind, 'memory');
  assert.match(snap.store.reason ?? '', /shared store cannot be used/);
  assert.equal(snap.metrics['store.localOnly'], 1);
  assert.ok(warnings.some((w) => /Local-only mode/.test(w)));
  const s = await c.openSession({ transport: 'none' });
  await c.store.set('notes', 'k', 1, c.actorFor(s));
  assert.equal((await c.store.get('notes', 'k'))?.value, 1, 'the local store keeps the same rules');
  const untrusted = new Coordinator({
    logger: silentLogger,
    allowedRoots: [ws.path],
    localOnlyReason: 'the workspace is not trusted',
    openStore: () => Promise.reject(new Error('must not be called')),
  });
  cleanup.push(() => untrusted.dispose());
  await untrusted.start();
  assert.equal((await untrusted.snapshot()).store.reason, 'the workspace is not trusted');
});

/** A session as a participant's beat reports it: one active HTTP agent in `root`. */
function activeSession(id: string, root: string): ParticipantSession {
  return { id, clientName: 'claude-code', transport: 'http', state: 'active', root, tags: [], requestCount: 1, lastActivityAt: Date.now() };
}

/** A set another process appends to a log directly, as a holder whose lock was taken over would. */
function intrude(wal: string, record: { n: string; k: string; v: unknown; pv: number }): void {
  appendFileSync(
    wal,
    encodeLine({ ...record, op: 'set', at: Date.now(), by: { sessionId: 'intruder', clientName: 'intruder', participantId: 'p2' } }),
  );
}

test("R-CTX-4, R-CTX-5: a rotation made due by another holder's lines is left to the next write when our commit already released the lock: a log is never folded without it", async () => {
  const { store, metrics, root } = await openStore(undefined, { rotateBytes: 4096 });
  await store.set('grown', 'n', 0, by);
  const wal = path.join(root, STORE_FOLDER, 'ns', 'grown', 'wal.1.log');
  let intruded = false;
  await store.update(
    'grown',
    'n',
    (c) => {
      if (!intruded) {
        intruded = true;
        // Under our lock, after our read: a holder whose lock was taken over appends a large line of another key.
        intrude(wal, { n: 'intruder-big', k: 'other', v: 'x'.repeat(5000), pv: 0 });
      }
      return (c!.value as number) + 1;
    },
    by,
  );
  // Our line applied after the intruder's; the log is now past rotateBytes, but our commit had let the lock go.
  assert.equal((await store.get('grown', 'other'))?.value, 'x'.repeat(5000));
  assert.equal(metrics.snapshot()['store.rotations'] ?? 0, 0, 'no rotation without the lock');
  await store.set('grown', 'n', 2, by);
  assert.equal(metrics.snapshot()['store.rotations'], 1, 'the next write, holding the lock, rotates');
  assert.equal((await store.get('grown', 'n'))?.version, 3);
});

test("R-CTX-3, R-CTX-4: a line another holder appends between a group commit's read and its append (a lock taken over) wins; the batch takes back what it assumed, reads back and retries", async () => {
  const { store, metrics, root } = await openStore();
  await store.set('taken', 'n', 0, by);
  const wal = path.join(root, STORE_FOLDER, 'ns', 'taken', 'wal.1.log');
  let intruded = false;
  const increments = await Promise.all(
    [1, 2, 3].map(() =>
      store.update(
        'taken',
        'n',
        (c) => {
          if (!intruded) {
            intruded = true;
            // Runs under our lock, after our read: exactly where a holder whose lock was taken over would write.
            intrude(wal, { n: 'intruder-1', k: 'n', v: 100, pv: c!.version });
          }
          return (c!.value as number) + 1;
        },
        by,
      ),
    ),
  );
  assert.deepEqual(
    increments.map((v) => v.value),
    [101, 102, 103],
    "every increment decided again against the intruder's value",
  );
  const history = (await store.history({ namespace: 'taken', limit: 100 })).records;
  assert.deepEqual(
    history.map((r) => [r.version, r.value]),
    [
      [1, 0],
      [2, 100],
      [3, 101],
      [4, 102],
      [5, 103],
    ],
  );
  assert.equal(metrics.snapshot()['store.writeRetries'], 3, 'the whole batch was retried once');
  assert.equal(metrics.snapshot()['store.writes'], 4, 'writes applied: the first set and the three increments, each once');
  assert.equal((await store.get('taken', 'n'))?.version, 5);
});

test('R-CTX-4: a holder whose lock was taken over, and whose log another holder folded meanwhile, retries its write in the new log: it is never acknowledged from the old one', async () => {
  await buildWorker();
  const { store, metrics, root } = await openStore();
  await store.set('folded', 'n', 0, by);
  const shard = path.join(root, STORE_FOLDER, 'ns', 'folded');
  let tookOver = false;
  const written = await store.update(
    'folded',
    'n',
    (c) => {
      if (!tookOver) {
        tookOver = true;
        // Under our lock, after our read: another process judges it stale and takes it, writes, and folds the log
        // (rotateBytes 1: its write makes a rotation due) into a snapshot that cannot hold our line, not yet written.
        rmSync(path.join(shard, '.lock'));
        const worker = { mode: 'unique', root, count: 1, prefix: 'other', namespace: 'folded', key: 'k', staleMs: 2000, agents: 1 };
        execFileSync(process.execPath, [workerScript('storeWorker.ts'), JSON.stringify({ ...worker, io: 'blocking', rotateBytes: 1 })]);
      }
      return (c!.value as number) + 1;
    },
    by,
  );
  assert.equal(readFileSync(path.join(shard, 'CURRENT'), 'utf8').trim(), '2', 'the other process folded the log');
  assert.equal(written.value, 1);
  assert.equal(metrics.snapshot()['store.writeRetries'], 1, 'our line in the old log did not count: the write was decided again');
  // What we acknowledged is what every reader sees, this one and a new one.
  assert.deepEqual(await store.get('folded', 'n').then((v) => [v?.value, v?.version]), [1, 2]);
  const { store: fresh } = await openStore(root);
  assert.deepEqual(await fresh.get('folded', 'n').then((v) => [v?.value, v?.version]), [1, 2]);
  assert.ok(await fresh.get('folded', 'other-0'), "the other process's write is there too");
});

test('R-CTX-4: a read-back that cannot read the log (CURRENT gone under the lock) fails the write once, saying so: it never retries lines it did not read, which would apply twice', async () => {
  const { store, metrics, root } = await openStore();
  await store.set('lost', 'n', 0, by);
  const shard = path.join(root, STORE_FOLDER, 'ns', 'lost');
  const wal = path.join(shard, 'wal.1.log');
  let intruded = false;
  const failed = await store
    .update(
      'lost',
      'n',
      (c) => {
        if (!intruded) {
          intruded = true;
          // Under our lock, after our read: another holder appends (our commit must read back), and CURRENT goes.
          intrude(wal, { n: 'intruder-other', k: 'other', v: 1, pv: 0 });
          rmSync(path.join(shard, 'CURRENT'));
        }
        return (c!.value as number) + 1;
      },
      by,
    )
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  assert.ok(isCoordinatorError(failed) && failed.code === 'StoreUnavailable', `a clear error, not an acknowledgement: ${String(failed)}`);
  assert.match(failed.message, /lost: its CURRENT file is gone or unreadable/);
  const ours = readFileSync(wal, 'utf8')
    .split('\n')
    .filter((line) => line.includes('"k":"n"'));
  assert.equal(ours.length, 2, 'the first set and one line of the update: nothing retried blind (21 lines before the fix)');
  assert.equal(metrics.snapshot()['store.writeRetries'] ?? 0, 0);
  // Once CURRENT is back, every reader agrees: the one line applied once.
  writeFileSync(path.join(shard, 'CURRENT'), '1\n');
  const { store: fresh } = await openStore(root);
  assert.deepEqual(await fresh.get('lost', 'n').then((v) => [v?.value, v?.version]), [1, 2]);
  assert.deepEqual(await store.get('lost', 'n').then((v) => [v?.value, v?.version]), [1, 2]);
});

test("R-CTX-4: a write after a killed writer's last line, whole but for its newline, is read back, not acknowledged blind: every reader applies that line first, so the write is decided again after it", async () => {
  const { store, metrics, root } = await openStore();
  await store.set('torn', 'n', 0, by);
  const wal = path.join(root, STORE_FOLDER, 'ns', 'torn', 'wal.1.log');
  await store.get('torn', 'n');
  // The killed writer's line: complete JSON, no newline. Our append starts a new line, which makes it whole for readers.
  const line = encodeLine({
    n: 'killed-1',
    k: 'n',
    op: 'set',
    v: 100,
    pv: 1,
    at: Date.now(),
    by: { sessionId: 'k', clientName: 'k', participantId: 'p2' },
  });
  appendFileSync(wal, line.trimEnd());
  const written = await store.update('torn', 'n', (c) => (c!.value as number) + 1, by);
  assert.deepEqual(
    [written.value, written.version],
    [101, 3],
    'decided again after the line every reader applies (before the fix: 1, acknowledged)',
  );
  assert.equal(metrics.snapshot()['store.writeRetries'], 1);
  const { store: fresh } = await openStore(root);
  assert.deepEqual(await fresh.get('torn', 'n').then((v) => [v?.value, v?.version]), [101, 3], 'a new reader sees what was acknowledged');
});

test("R-CTX-3 (issue 11): a window's agents that write again as soon as they are told share one lock hold across commits; another writer still gets its turn, and every increment counts once", async () => {
  const { store, metrics, root } = await openStore();
  const { store: other } = await openStore(root);
  await store.set('held', 'n', 0, by);
  const agents = 8;
  const each = 40;
  let otherDone = 0;
  const loops = Array.from({ length: agents }, async () => {
    for (let i = 0; i < each; i++) await store.update('held', 'n', (c) => (c!.value as number) + 1, by);
  });
  // Another participant (its own lock holder) writes meanwhile: the kept lock must let it in.
  const outsider = (async () => {
    for (let i = 0; i < 10; i++) {
      await other.update('held', 'n', (c) => (c!.value as number) + 1, by);
      otherDone++;
    }
  })();
  await Promise.all([...loops, outsider]);
  assert.equal(otherDone, 10);
  assert.deepEqual(await other.get('held', 'n').then((v) => [v?.value, v?.version]), [agents * each + 10, agents * each + 11]);
  const m = metrics.snapshot();
  const commits = Number(m['store.commits']);
  const acquisitions = Number(m['store.lock.acquisitions']);
  assert.equal(Number(m['store.writes']), agents * each + 1, 'each write applied once');
  // At least two batches per hold when the agents write again in time; one reuse proves the lock was kept.
  assert.ok(acquisitions < commits, `the lock was kept across commits: ${acquisitions} acquisitions for ${commits} commits`);
  console.log(`kept lock: ${acquisitions} acquisitions for ${commits} commits of ${agents} agents x ${each} increments`);
});

test('R-CTX-7: a beat with nothing new only touches the presence file: the other participant stays present past goneAfterMs, no presence event fires, and what is new is still written and seen', async () => {
  const options = { heartbeatMs: 100, goneAfterMs: 400 };
  const { store: a, root } = await openStore(undefined, options);
  const { store: b } = await openStore(root, options);
  const events: string[] = [];
  a.onEvent((e) => {
    if (e.kind === 'presence') events.push(e.kind);
  });
  const file = path.join(root, STORE_FOLDER, 'presence', `${b.participantId}.json`);
  const { ino } = statSync(file);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(statSync(file).ino, ino, 'ten beats touched the file; none replaced it');
  assert.ok(
    (await a.participants()).some((p) => p.participantId === b.participantId),
    'present: its beats count though its content says it beat a second ago',
  );
  assert.deepEqual(events, [], 'a beat is not news');
  await b.heartbeat([activeSession('s-new', root)]);
  for (const deadline = Date.now() + 2000; events.length === 0;) {
    assert.ok(Date.now() < deadline, 'a new session is news: a presence event within 2 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.deepEqual(
    (await a.participants()).find((p) => p.participantId === b.participantId)?.sessions.map((x) => x.id),
    ['s-new'],
  );
});

test('R-CTX-7: a presence read that began before another participant said something new does not answer with the old after the change arrived (a stale read never refills the cache)', async () => {
  // Beats far apart: only the sweeps and beats the test makes run, and the cache stays fresh for the whole loop.
  const options = { heartbeatMs: 60_000, goneAfterMs: 600_000 };
  const { store: a, root } = await openStore(undefined, options);
  const { store: b } = await openStore(root, options);
  let events = 0;
  a.onEvent((e) => {
    if (e.kind === 'presence') events++;
  });
  const stale: string[] = [];
  const rounds = 200;
  for (let i = 0; i < rounds; i++) {
    const before = events;
    // a's own sweep reads b's file while b says something new: the read may end after the change's event.
    const sweep = a.sweepParticipants();
    await b.heartbeat([activeSession(`s${i}`, root)]);
    await sweep;
    for (const deadline = Date.now() + 2000; events === before;) {
      assert.ok(Date.now() < deadline, `round ${i}: b's new presence file is news to a within 2 s`);
      await new Promise((r) => setTimeout(r, 2));
    }
    const seen = (await a.participants()).find((p) => p.participantId === b.participantId)?.sessions.map((x) => x.id);
    if (seen?.[0] !== `s${i}`) stale.push(`round ${i}: ${JSON.stringify(seen)}`);
  }
  // Before the fix about one round in ten answered with the sessions b had before (31 of 300 measured).
  assert.deepEqual(stale, [], `after the presence event, a answered with what b said before`);
});
