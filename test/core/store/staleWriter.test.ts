// A writer stopped exactly where a random stop lands once in thousands of runs (a failpoint, then a real SIGSTOP),
// its lock taken over meanwhile, then resumed: what it does next must not cost anyone an acknowledged write.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../../src/core/logging/logger.js';
import { Metrics } from '../../../src/core/metrics/metrics.js';
import { FileStore } from '../../../src/core/store/file/fileStore.js';
import type { Failpoint } from '../../../src/core/store/file/failpoints.js';
import { STORE_FOLDER } from '../../../src/core/store/file/storeLayout.js';
import { stopChild } from '../../support/processes.js';
import { buildWorker, startWorker } from '../../support/storeWorkers.js';
import { tempDir } from '../../support/workspace.js';

const cleanup: Array<() => Promise<unknown>> = [];
before(() => buildWorker());
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

const STALE_MS = 400;

/** Resolves once the process is stopped (state T), as its failpoint leaves it; or, if `orExited`, once it exited. */
async function stopped(child: ChildProcess, orExited = false): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    } catch (e) {
      // Gone from /proc: it exited and was reaped.
      if (orExited) return;
      throw e;
    }
    const state = stat.slice(stat.lastIndexOf(')') + 2);
    if (state.startsWith('T') || (orExited && state.startsWith('Z'))) return;
    if (Date.now() > deadline) throw new Error(`process ${child.pid} never reached its failpoint`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A store of this test process on `root`, to check what the writers left (closed after the tests). */
async function openToCheck(root: string): Promise<FileStore> {
  const store = await FileStore.open({
    projectRoot: root,
    participant: { kind: 'headless', label: 'test' },
    metrics: new Metrics(),
    logger: silentLogger,
    options: { pollMs: 60_000 },
  });
  cleanup.push(() => store.dispose());
  return store;
}

/**
 * Writer `a` stops itself at `failpoint` holding the shard's lock; writer `b` takes the lock over once it is
 * stale and makes its `bCount` writes; then `a` goes on and makes the rest of its `aCount`. Both must finish.
 * With `meanwhile`, that runs first while `a` is stopped, then `a` goes on to its next stop (or its end) before
 * `b` starts. Returns the workspace and every write either acknowledged.
 */
async function stoppedThenTakenOver(o: {
  mode: 'unique' | 'update';
  namespace: string;
  failpoint: Failpoint | Failpoint[];
  aCount: number;
  bCount: number;
  rotateBytes?: number;
  meanwhile?: (root: string) => Promise<void>;
}): Promise<{ root: string; acked: string[] }> {
  const t = tempDir();
  cleanup.push(t.remove);
  const acked: string[] = [];
  const onLine = (line: string): void => {
    if (line.startsWith('ack ')) acked.push(line.slice(4));
  };
  const common = {
    mode: o.mode,
    root: t.path,
    namespace: o.namespace,
    key: 'n',
    staleMs: STALE_MS,
    io: 'blocking',
    ...(o.rotateBytes ? { rotateBytes: o.rotateBytes } : {}),
  } as const;
  const a = startWorker({ ...common, count: o.aCount, prefix: 'a', failpoint: o.failpoint }, onLine);
  cleanup.push(() => stopChild(a.child, 'SIGKILL'));
  await stopped(a.child);
  if (o.meanwhile) {
    await o.meanwhile(t.path);
    a.child.kill('SIGCONT');
    await stopped(a.child, true);
  }
  const bResult = await startWorker({ ...common, count: o.bCount, prefix: 'b' }, onLine).result;
  a.child.kill('SIGCONT');
  const aResult = await a.result;
  assert.ok(aResult?.done && bResult?.done, 'both writers finished');
  return { root: t.path, acked };
}

/** stoppedThenTakenOver with unique keys: each writer acknowledges every write, and every one is in the store. */
async function stoppedThenResumed(o: Omit<Parameters<typeof stoppedThenTakenOver>[0], 'mode' | 'namespace'>): Promise<void> {
  const { root, acked } = await stoppedThenTakenOver({ ...o, mode: 'unique', namespace: 'stale' });
  assert.equal(acked.length, o.aCount + o.bCount);
  const present = new Set((await (await openToCheck(root)).list('stale')).map((e) => e.key));
  assert.deepEqual(
    acked.filter((k) => !present.has(k)),
    [],
    'no acknowledged write is lost',
  );
}

test("R-CTX-4: a first writer stopped past the lock's staleness while creating a namespace, then resumed, replaces none of the files the taker made: both writers' acknowledged writes are all there", async () => {
  await stoppedThenResumed({ failpoint: 'shard.init.create', aCount: 20, bCount: 50 });
});

test("R-CTX-4: a rotator stopped past the lock's staleness just before making the next generation, then resumed after another rotated to it and wrote there, replaces nothing: every acknowledged write is there", async () => {
  // a's log reaches 2 KB in ~10 writes and it stops rotating; b's first write rotates to generation 2, and its
  // other 4 stay in that log (well under the 2 KB a rotation needs), where a resumed a would have replaced them.
  await stoppedThenResumed({
    failpoint: 'shard.rotate.create',
    aCount: 30,
    bCount: 5,
    rotateBytes: 2048,
  });
});

test("R-CTX-4: a rotator stopped past the lock's staleness after making the next generation, while another wrote to the current log, does not commit a snapshot that lacks those writes", async () => {
  // b's writes find the rotation due but a's files young (see the test below): they go to generation 1's log,
  // after the state a's snapshot holds; a resumed a committing its generation 2 would leave them behind.
  await stoppedThenResumed({
    failpoint: 'shard.rotate.commit',
    aCount: 30,
    bCount: 5,
    rotateBytes: 2048,
  });
});

test("R-CTX-4: a rotator stopped past the lock's staleness after its last check, just before it renames CURRENT, cannot commit once its lock was taken over: the taker's acknowledged writes stay", async () => {
  // The taker removes temp files as it takes over, CURRENT's ready replacement among them: the late rename fails.
  await stoppedThenResumed({
    failpoint: 'shard.rotate.rename',
    aCount: 30,
    bCount: 5,
    rotateBytes: 2048,
  });
});

test("R-CTX-4: a rotator stopped twice, first past the lock's staleness (its taker appended nothing), then between its last check and its rename, cannot commit over the next holder's acknowledged writes", async () => {
  // a goes on after the taker to its next stop: this rotation's rename (before the fix) or a later rotation's, under
  // a lock of its own; b then takes the free lock (or a's stale one) and writes.
  await stoppedThenResumed({
    failpoint: ['shard.rotate.create', 'shard.rotate.rename'],
    aCount: 30,
    bCount: 5,
    rotateBytes: 2048,
    meanwhile: async (root) => {
      // The taker: a delete of a key nobody wrote takes the lock over (stale by then) and appends nothing.
      const taker = await FileStore.open({
        projectRoot: root,
        participant: { kind: 'headless', label: 'taker' },
        metrics: new Metrics(),
        logger: silentLogger,
        options: { pollMs: 60_000, lock: { staleMs: STALE_MS, timeoutMs: 10_000 } },
      });
      cleanup.push(() => taker.dispose());
      await taker.delete('stale', 'nobody-wrote-this', { sessionId: 't', clientName: 't', participantId: 't' });
    },
  });
});

/** a appends one increment and stops; b takes the lock over and makes `bCount` increments; then a goes on: the counter's value. */
async function incrementsAroundAStoppedAppend(bCount: number, rotateBytes?: number): Promise<unknown> {
  const { root } = await stoppedThenTakenOver({
    mode: 'update',
    namespace: 'counters',
    failpoint: 'shardIo.commit.write',
    aCount: 5,
    bCount,
    ...(rotateBytes ? { rotateBytes } : {}),
  });
  return (await (await openToCheck(root)).get('counters', 'n'))?.value;
}

test('R-CTX-3, R-CTX-4: a writer stopped right after appending an increment, while others append thousands after it, reads back that it applied and does not apply it again', async () => {
  // More lines after a's than the state remembers nonces of (2048): a must still see that its own line applied.
  assert.equal(await incrementsAroundAStoppedAppend(2500), 2505, 'every increment applied exactly once');
});

test("R-CTX-3, R-CTX-4: the same when others also folded that log into a snapshot taken thousands of lines after the stopped writer's", async () => {
  // b's one rotation comes after ~2,700 lines of ~180 bytes (500 KB): the new snapshot no longer remembers a's nonce.
  assert.equal(await incrementsAroundAStoppedAppend(4000, 500_000), 4005, 'every increment applied exactly once');
});

test('R-CTX-3, R-CTX-4: a window whose file-store thread dies in the middle of a commit fails that write, saying its outcome is unknown, and its next writes apply for everyone', async () => {
  // The thread exits before the append: the increment never reached the log. A process that kept it in its state
  // would decide every later increment on a version no other process has (they would reject them all).
  const t = tempDir();
  cleanup.push(t.remove);
  const lines: string[] = [];
  const w = startWorker(
    {
      mode: 'update',
      root: t.path,
      namespace: 'counters',
      key: 'n',
      staleMs: STALE_MS,
      io: 'worker',
      count: 10,
      prefix: 'w',
      failpoint: 'shardIo.worker.exit',
      tolerateErrors: true,
    },
    (line) => lines.push(line),
  );
  cleanup.push(() => stopChild(w.child, 'SIGKILL'));
  assert.ok((await w.result)?.done, 'the writer went on after the failed write');
  const errors = lines.filter((l) => l.startsWith('err '));
  assert.equal(errors.length, 1, lines.join('\n'));
  assert.match(errors[0]!, /worker thread stopped.*may or may not have been written/);
  const store = await openToCheck(t.path);
  assert.equal(
    (await store.get('counters', 'n'))?.value,
    lines.filter((l) => l.startsWith('ack ')).length,
    'every acknowledged increment, and only those',
  );
});

test('R-CTX-4, R-SEC-1: files a rotation left without committing (it crashed) block the next rotations only while young; then they are removed and the log folds, losing nothing', async () => {
  const t = tempDir();
  cleanup.push(t.remove);
  const metrics = new Metrics();
  const staleMs = 200;
  const store = await FileStore.open({
    projectRoot: t.path,
    participant: { kind: 'headless', label: 'test' },
    metrics,
    logger: silentLogger,
    options: { pollMs: 60_000, rotateBytes: 2048, lock: { staleMs, timeoutMs: 10_000 } },
  });
  cleanup.push(() => store.dispose());
  const by = { sessionId: 't', clientName: 't', participantId: 't' };
  await store.set('left', 'k0', 0, by);
  // What a rotator killed between its two creates leaves: the next generation's snapshot and log, CURRENT unmoved.
  const shard = path.join(t.path, STORE_FOLDER, 'ns', 'left');
  writeFileSync(path.join(shard, 'snapshot.2.json'), '{"stale":true}');
  writeFileSync(path.join(shard, 'wal.2.log'), JSON.stringify({ wal: 2, baseSeq: 0, namespace: 'left' }) + '\n');
  // And a killed rotator's half-made CURRENT (R-SEC-1: nothing left by crashes piles up).
  writeFileSync(path.join(shard, 'CURRENT.0123456789ab.tmp'), '2\n');
  const pad = 'x'.repeat(200);
  for (let i = 1; i <= 20; i++) await store.set('left', `k${i}`, { i, pad }, by);
  const aborted = metrics.snapshot()['store.rotationAborted'] ?? 0;
  assert.ok(Number(aborted) > 0, 'the young leftovers kept the log from folding');
  assert.equal(metrics.snapshot()['store.rotations'] ?? 0, 0);
  assert.equal(readFileSync(path.join(shard, 'CURRENT'), 'utf8'), '1\n');
  const old = new Date(Date.now() - 60_000);
  for (const f of ['snapshot.2.json', 'wal.2.log']) utimesSync(path.join(shard, f), old, old);
  await store.set('left', 'k21', 21, by);
  assert.equal(metrics.snapshot()['store.leftoversRemoved'], 1);
  assert.equal(metrics.snapshot()['store.rotations'], 1);
  assert.equal(readFileSync(path.join(shard, 'CURRENT'), 'utf8'), '2\n');
  assert.deepEqual(
    readdirSync(shard).filter((f) => f.endsWith('.tmp')),
    [],
    'temp files of a killed rotator are removed by the next rotation',
  );
  const reopened = await openToCheck(t.path);
  assert.deepEqual((await reopened.list('left')).map((e) => e.key).sort(), Array.from({ length: 22 }, (_, i) => `k${i}`).sort());
});
