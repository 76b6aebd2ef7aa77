import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../../src/core/logging/logger.js';
import { Metrics } from '../../../src/core/metrics/metrics.js';
import { FileStore } from '../../../src/core/store/file/fileStore.js';
import { STORE_FOLDER } from '../../../src/core/store/file/storeLayout.js';
import { stopChild } from '../../support/processes.js';
import { buildWorker, startWorker } from '../../support/storeWorkers.js';
import { tempDir } from '../../support/workspace.js';

const cleanup: Array<() => Promise<unknown>> = [];
before(() => buildWorker());
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

function workspace(): string {
  const t = tempDir();
  cleanup.push(t.remove);
  return t.path;
}

async function open(root: string, pollMs = 60_000): Promise<{ store: FileStore; metrics: Metrics }> {
  const metrics = new Metrics();
  const store = await FileStore.open({
    projectRoot: root,
    participant: { kind: 'headless', label: 'test' },
    metrics,
    logger: silentLogger,
    options: { pollMs },
  });
  cleanup.push(() => store.dispose());
  return { store, metrics };
}

/**
 * `runs` rounds of `writers` unique-key writer processes (`agents` loops each) killed with SIGKILL at
 * random, each replaced at once, for `runMs` per round; every key a writer acknowledged is collected.
 */
async function killRuns(o: {
  root: string;
  runs: number;
  writers: number;
  agents: number;
  namespace: (slot: number) => string;
  runMs: number;
  maxGapMs: number;
  /** Rounds go on past `runs` (up to three times as many) until this many writes were acknowledged: a loaded machine starts writers slowly. */
  minAcked: number;
}): Promise<{ kills: number; acked: Set<string>; runs: number }> {
  let kills = 0;
  let generation = 0;
  const acked = new Set<string>();
  let run = 0;
  for (; run < o.runs || (acked.size <= o.minAcked && run < o.runs * 3); run++) {
    const live = new Map<number, ReturnType<typeof startWorker>>();
    const spawnWriter = (slot: number): void => {
      const w = startWorker(
        {
          mode: 'unique',
          root: o.root,
          count: 1_000_000,
          agents: o.agents,
          prefix: `r${run}-g${generation++}-s${slot}`,
          namespace: o.namespace(slot),
        },
        (line) => {
          if (line.startsWith('ack ')) acked.add(line.slice(4));
        },
      );
      w.result.catch(() => undefined);
      live.set(slot, w);
    };
    for (let slot = 0; slot < o.writers; slot++) spawnWriter(slot);
    const until = Date.now() + o.runMs;
    while (Date.now() < until) {
      await new Promise((r) => setTimeout(r, 20 + Math.random() * (o.maxGapMs - 20)));
      const slot = Math.floor(Math.random() * o.writers);
      await stopChild(live.get(slot)!.child, 'SIGKILL');
      kills++;
      spawnWriter(slot);
    }
    await Promise.all([...live.values()].map((w) => stopChild(w.child, 'SIGKILL')));
    kills += live.size;
  }
  return { kills, acked, runs: run };
}

function tempFiles(root: string): string[] {
  const ns = path.join(root, STORE_FOLDER, 'ns');
  return readdirSync(ns).flatMap((shard) => readdirSync(path.join(ns, shard)).filter((f) => f.endsWith('.tmp')));
}

/** Stops the writers in turn (SIGSTOP) for 1.5 x staleMs, 3 times, so their locks are taken over, then kills them all. */
async function stallInTurnThenKill(workers: Array<ReturnType<typeof startWorker>>, staleMs: number): Promise<void> {
  for (const w of workers) w.result.catch(() => undefined);
  await new Promise((r) => setTimeout(r, 500));
  for (let pause = 0; pause < 3; pause++) {
    const victim = workers[pause % workers.length]!.child;
    victim.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 1.5 * staleMs));
    victim.kill('SIGCONT');
    await new Promise((r) => setTimeout(r, 300));
  }
  await Promise.all(workers.map((w) => stopChild(w.child, 'SIGKILL')));
}

test('R-CTX-3: 4 processes x 50 compare-and-set increments on one key end at exactly 200', async () => {
  const root = workspace();
  const workers = Array.from({ length: 4 }, (_, i) =>
    startWorker({ mode: 'cas', root, count: 50, prefix: `w${i}`, namespace: 'counters', key: 'n' }),
  );
  const results = await Promise.all(workers.map((w) => w.result));
  const { store } = await open(root);
  const final = await store.get('counters', 'n');
  assert.equal(final?.value, 200);
  assert.equal(final?.version, 200);
  const conflicts = results.reduce((n, r) => n + (r?.conflicts ?? 0), 0);
  console.log(`4 x 50 CAS increments: ${conflicts} conflicts retried`);
});

test('R-CTX-3: 4 processes x 50 locked updates on one key end at exactly 200, with no conflict at all', async () => {
  const root = workspace();
  const results = await Promise.all(
    Array.from(
      { length: 4 },
      (_, i) => startWorker({ mode: 'update', root, count: 50, prefix: `u${i}`, namespace: 'counters', key: 'n' }).result,
    ),
  );
  const { store } = await open(root);
  assert.equal((await store.get('counters', 'n'))?.value, 200);
  assert.ok(results.every((r) => r?.done));
});

test('R-CTX-4: 50 runs of 4 writers under random SIGKILL: every acknowledged write is present, every shard parses, no temp file is left', async () => {
  const root = workspace();
  const { kills, acked, runs } = await killRuns({
    root,
    runs: 50,
    writers: 4,
    agents: 1,
    namespace: (slot) => `kill${slot % 2}`,
    runMs: 400,
    maxGapMs: 200,
    minAcked: 100,
  });
  const { store } = await open(root);
  const present = new Set([...(await store.list('kill0')), ...(await store.list('kill1'))].map((e) => e.key));
  const lost = [...acked].filter((k) => !present.has(k));
  console.log(`kill test: ${runs} runs, ${kills} SIGKILLs, ${acked.size} acknowledged writes, ${lost.length} lost`);
  assert.ok(acked.size > 100, `enough writes were acknowledged to mean something (${acked.size})`);
  assert.deepEqual(lost, [], 'no acknowledged write is lost');
  // A later writer cleans temp files a killed one left (they only appear while rotating).
  await store.set('kill0', 'after', 1, { sessionId: 't', clientName: 't', participantId: 't' });
  assert.deepEqual(
    tempFiles(root).filter((f) => f.includes('CURRENT') || f.includes('snapshot')),
    [],
  );
});

test('R-CTX-4: the lock holder stopped (SIGSTOP) for 1.5 x stale, then resumed, loses no acknowledged write', async () => {
  const root = workspace();
  const acked = new Set<string>();
  const staleMs = 2000;
  const workers = Array.from({ length: 4 }, (_, i) =>
    startWorker({ mode: 'unique', root, count: 1_000_000, prefix: `p${i}`, namespace: 'pause', staleMs }, (line) => {
      if (line.startsWith('ack ')) acked.add(line.slice(4));
    }),
  );
  await stallInTurnThenKill(workers, staleMs);
  const { store } = await open(root);
  const present = new Set((await store.list('pause')).map((e) => e.key));
  const lost = [...acked].filter((k) => !present.has(k));
  console.log(`SIGSTOP test: 3 pauses of ${1.5 * staleMs} ms, ${acked.size} acknowledged, ${lost.length} lost`);
  if (lost.length > 0) {
    // Seen once in CI (897 of one writer's acknowledged writes, from its first): keep the shard for whoever looks next.
    const evidence = path.join(os.tmpdir(), `sc-sigstop-evidence-${process.pid}-${Date.now()}`);
    cpSync(path.join(root, STORE_FOLDER), evidence, { recursive: true });
    const shard = path.join(evidence, 'ns', 'pause');
    const files = readdirSync(shard).map((f) => `${f} ${statSync(path.join(shard, f)).size}`);
    const byWriter = [0, 1, 2, 3].map((i) => `p${i}: ${lost.filter((k) => k.startsWith(`p${i}-`)).length} lost`);
    console.log(`SIGSTOP test: the store is kept in ${evidence}; ${byWriter.join(', ')}; shard files: ${files.join(', ')}`);
  }
  assert.ok(acked.size > 100);
  assert.deepEqual(lost, []);
});

test('R-CTX-3, R-CTX-4: increments of one key by 4 writers while the lock holder is stopped (SIGSTOP) past staleness, 3 times: the counter ends at what was acknowledged, never above (an increment applied twice), at most one in flight per writer below', async () => {
  const root = workspace();
  let acked = 0;
  const staleMs = 1000;
  const workers = Array.from({ length: 4 }, (_, i) =>
    startWorker({ mode: 'update', root, count: 1_000_000, prefix: `q${i}`, namespace: 'pausecount', key: 'n', staleMs }, (line) => {
      if (line.startsWith('ack ')) acked++;
    }),
  );
  await stallInTurnThenKill(workers, staleMs);
  const { store } = await open(root);
  const value = Number((await store.get('pausecount', 'n'))?.value ?? 0);
  console.log(`SIGSTOP increments: ${acked} acknowledged, the counter ends at ${value}`);
  assert.ok(acked > 100, `enough increments were acknowledged to mean something (${acked})`);
  assert.ok(
    value >= acked && value <= acked + workers.length,
    `${acked} acknowledged, at most ${workers.length} in flight at the kill; the counter is ${value}`,
  );
});

test('R-CTX-4: a planted stale lock raced for by 8 processes never lets two writers apply against the same state', async () => {
  const root = workspace();
  const { store } = await open(root);
  await store.set('race', 'n', 0, { sessionId: 't', clientName: 't', participantId: 't' });
  const shard = path.join(root, STORE_FOLDER, 'ns', 'race');
  const lock = path.join(shard, '.lock');
  mkdirSync(lock);
  const old = new Date(Date.now() - 60_000);
  utimesSync(lock, old, old);
  const results = await Promise.all(
    Array.from({ length: 8 }, (_, i) => startWorker({ mode: 'cas', root, count: 10, prefix: `r${i}`, namespace: 'race', key: 'n' }).result),
  );
  const final = await store.get('race', 'n');
  assert.equal(final?.value, 80, 'every increment applied exactly once');
  assert.equal(final?.version, 81);
  const history = (await store.history({ namespace: 'race', limit: 1000 })).records;
  const versions = history.map((r) => r.version);
  assert.deepEqual(
    versions,
    Array.from({ length: 81 }, (_, i) => i + 1),
    'each version written by exactly one writer',
  );
  console.log(
    `planted stale lock: ${results.reduce((n, r) => n + (r?.rejected ?? 0), 0)} records rejected and retried, ${results.reduce((n, r) => n + (r?.compromised ?? 0), 0)} compromised locks`,
  );
});

test('R-CTX-3, R-CTX-4: agents of one window writing at once share one commit (group commit); under a planted stale lock raced for by 4 such windows every increment applies exactly once', async () => {
  const root = workspace();
  const { store } = await open(root);
  await store.set('group', 'n', 0, { sessionId: 't', clientName: 't', participantId: 't' });
  // A lock file of ours this time (the test above plants an older version's folder).
  const lock = path.join(root, STORE_FOLDER, 'ns', 'group', '.lock');
  writeFileSync(lock, '');
  const old = new Date(Date.now() - 60_000);
  utimesSync(lock, old, old);
  const results = await Promise.all(
    Array.from(
      { length: 4 },
      (_, i) => startWorker({ mode: 'update', root, count: 25, agents: 4, prefix: `g${i}`, namespace: 'group', key: 'n' }).result,
    ),
  );
  const final = await store.get('group', 'n');
  const history = (await store.history({ namespace: 'group', limit: 1000 })).records;
  // Which writer's increments applied how often: a write applied twice names its process.
  const byWriter: Record<string, number> = {};
  for (const r of history) byWriter[r.by.sessionId] = (byWriter[r.by.sessionId] ?? 0) + 1;
  assert.deepEqual(
    { value: final?.value, version: final?.version, byWriter },
    { value: 400, version: 401, byWriter: { t: 1, g0: 100, g1: 100, g2: 100, g3: 100 } },
    `every increment applied exactly once (workers: ${JSON.stringify(results.map((r) => r && { ...r, latencies: undefined }))})`,
  );
  assert.deepEqual(
    history.map((r) => r.version),
    Array.from({ length: 401 }, (_, i) => i + 1),
    'each version written by exactly one writer',
  );
  const writes = results.reduce((n, r) => n + (r?.writes ?? 0), 0);
  const commits = results.reduce((n, r) => n + (r?.commits ?? 0), 0);
  console.log(`group commit: 4 processes x 4 agents, ${writes} writes in ${commits} commits (appends + fdatasyncs)`);
  assert.equal(writes, 400);
  assert.ok(
    commits > 0 && commits < writes * 0.75,
    `concurrent writes of one process share commits (${commits} commits for ${writes} writes)`,
  );
});

test('R-CTX-4: 20 runs of 2 windows x 4 agents writing at once under random SIGKILL: a write shared by a group commit is acknowledged only once durable', async () => {
  const root = workspace();
  const { kills, acked, runs } = await killRuns({
    root,
    runs: 20,
    writers: 2,
    agents: 4,
    namespace: () => 'groupkill',
    runMs: 300,
    maxGapMs: 170,
    minAcked: 100,
  });
  const { store } = await open(root);
  const present = new Set((await store.list('groupkill')).map((e) => e.key));
  const lost = [...acked].filter((k) => !present.has(k));
  console.log(`group-commit kill test: ${runs} runs, ${kills} SIGKILLs, ${acked.size} acknowledged writes, ${lost.length} lost`);
  assert.ok(acked.size > 100, `enough writes were acknowledged to mean something (${acked.size})`);
  assert.deepEqual(lost, [], 'no acknowledged write is lost');
});

test('R-CTX-6: another process learns of a change by file-system notification, not by polling', async () => {
  const root = workspace();
  const { store: reader } = await open(root, 60_000);
  const seen = new Map<string, number>();
  reader.watchChanges('prop');
  reader.onEvent((e) => {
    if (e.kind === 'change') seen.set(e.change.key, Date.now());
  });
  await reader.set('prop', 'warmup', 0, { sessionId: 't', clientName: 't', participantId: 't' });
  const writer = startWorker({ mode: 'unique', root, count: 20, prefix: 'w', namespace: 'prop' });
  await writer.result;
  const deadline = Date.now() + 2000;
  while (seen.size < 21 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(seen.size, 21, 'all 20 writes of the other process arrived, with the poll 60 s away');
});

test("R-CTX-6 (issue 11): others' writes to a namespace nobody here watches are not read as they land, only at the next read; watched ones arrive at once; claims always do", async () => {
  const root = workspace();
  const { store: reader } = await open(root, 60_000);
  const by = { sessionId: 't', clientName: 't', participantId: 't' };
  await reader.set('quiet', 'mine', 0, by);
  await reader.set('loud', 'mine', 0, by);
  const changes: string[] = [];
  let claimEvents = 0;
  reader.onEvent((e) => {
    if (e.kind === 'change') changes.push(`${e.change.namespace}/${e.change.key}`);
    if (e.kind === 'claims') claimEvents++;
  });
  const watch = reader.watchChanges('loud');
  await Promise.all([
    startWorker({ mode: 'unique', root, count: 10, prefix: 'q', namespace: 'quiet' }).result,
    startWorker({ mode: 'unique', root, count: 10, prefix: 'l', namespace: 'loud' }).result,
  ]);
  const { store: other } = await open(root, 60_000);
  await other.acquireClaim('src/a.ts', { ...by, sessionId: 'other' }, 60_000);
  const deadline = Date.now() + 3000;
  while ((changes.filter((c) => c.startsWith('loud/')).length < 10 || claimEvents === 0) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  assert.equal(changes.filter((c) => c.startsWith('loud/')).length, 10, "the watched namespace's 10 writes arrived as they landed");
  assert.ok(claimEvents > 0, 'a claim in another process is heard without watching anything');
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(
    changes.filter((c) => c.startsWith('quiet/')),
    [],
    'nothing read of the namespace nobody watches (the poll is 60 s away)',
  );
  assert.equal((await reader.get('quiet', 'q-9'))?.value !== undefined, true, 'a read sees every write at once all the same');
  assert.equal((await reader.list('quiet')).length, 11);
  await watch.dispose();
});

test('R-CTX-7: a participant killed with SIGKILL is marked gone within the presence bound', async () => {
  const root = workspace();
  const { store } = await open(root);
  const w = startWorker({ mode: 'unique', root, count: 1_000_000, prefix: 'doomed', namespace: 'presence' });
  w.result.catch(() => undefined);
  for (let i = 0; i < 100 && (await store.participants()).length < 2; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal((await store.participants()).length, 2);
  const killedAt = Date.now();
  await stopChild(w.child, 'SIGKILL');
  while ((await store.participants()).length > 1 && Date.now() - killedAt < 10_000) await new Promise((r) => setTimeout(r, 20));
  const took = Date.now() - killedAt;
  console.log(`presence: participant gone ${took} ms after SIGKILL`);
  assert.equal((await store.participants()).length, 1);
  assert.ok(took < 3500, `gone within the bound (${took} ms)`);
});
