import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { isCoordinatorError } from '../../../src/core/errors.js';
import { silentLogger } from '../../../src/core/logging/logger.js';
import { Metrics } from '../../../src/core/metrics/metrics.js';
import { FileStore } from '../../../src/core/store/file/fileStore.js';
import { deadPid } from '../../support/cliProcesses.js';
import { httpClient } from '../../support/mcpClients.js';
import { startServe } from '../../support/processes.js';
import { callOk, type ClaimView } from '../../support/sharedContext.js';
import { tempDir } from '../../support/workspace.js';

/**
 * Files in the workspace are data (R-SEC-3): a cloned repository can hold any
 * file under .session-coordinator/presence. None of them may name a file to
 * delete, release a live participant's claims, or stall the sweeper.
 * Real `serve` processes, real files, real heartbeats.
 */

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function forged(participantId: string, pid: number, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    participantId,
    pid,
    host: os.hostname(),
    kind: 'headless',
    label: 'forged',
    startedAt: 0,
    heartbeatAt: 0,
    sessions: [],
    ...extra,
  });
}

test("R-SEC-3: forged presence files delete nothing outside their own name, release no live participant's claims, and a symlink to /dev/zero stalls nothing", async () => {
  const parent = tempDir('sc-forged-');
  cleanup.push(parent.remove);
  const ws = path.join(parent.path, 'ws');
  const presence = path.join(ws, '.session-coordinator', 'presence');
  mkdirSync(presence, { recursive: true });
  const home = tempDir('sc-home-');
  cleanup.push(home.remove);

  const a = await startServe(ws, home.path);
  cleanup.push(() => a.stop());
  const holder = await httpClient(a.url, 'holder');
  cleanup.push(() => holder.client.close());
  const held = await callOk<ClaimView>(holder.client, 'claim_acquire', { resource: 'precious.ts', ttlSeconds: 600 });
  const victimId = held.holder.participantId;
  const dead = await deadPid();

  // 1. An id that walks out of the presence folder: the sweeper removed <parent>/victim.json with it.
  const victim = path.join(parent.path, 'victim.json');
  writeFileSync(victim, '{"keep": true}');
  writeFileSync(path.join(presence, 'walker.json'), forged('../../../victim', dead));
  // 2. A live participant's id in a file of another name, stale and with a dead pid: its claims were released.
  writeFileSync(path.join(presence, 'impostor.json'), forged(victimId, dead));
  // 3. A presence "file" that never ends.
  symlinkSync('/dev/zero', path.join(presence, 'endless.json'));

  const b = await startServe(ws, home.path);
  cleanup.push(() => b.stop());
  const watcher = await httpClient(b.url, 'watcher');
  cleanup.push(() => watcher.client.close());
  // Several heartbeats (1 s) and sweeps of both participants, past goneAfter (3 s).
  await sleep(4500);

  assert.ok(existsSync(victim), 'a file outside the presence folder was deleted');
  const { claims } = await callOk<{ claims: ClaimView[] }>(watcher.client, 'claim_list', {});
  const still = claims.find((c) => c.resource === 'precious.ts');
  assert.equal(still?.fencingToken, held.fencingToken, 'the live participant kept its claim');
  const me = (await watcher.client.callTool({ name: 'whoami', arguments: {} })).structuredContent as {
    participants: Array<{ participantId: string; label: string }>;
  };
  assert.deepEqual(
    me.participants.map((p) => p.participantId).sort(),
    [victimId, (await callOk<ClaimView>(watcher.client, 'claim_acquire', { resource: 'mine.ts' })).holder.participantId].sort(),
    'only the two real participants are listed',
  );
  assert.ok(!me.participants.some((p) => p.label === 'forged'));
  assert.doesNotMatch(a.stderr() + b.stderr(), /Participant forged .* is gone/);
});

test('R-SEC-1, R-SEC-3, R-SEC-7: namespace folders a repository planted open no more than the quota, and none that is not a namespace name', async () => {
  const ws = tempDir('sc-planted-');
  cleanup.push(ws.remove);
  const ns = path.join(ws.path, '.session-coordinator', 'ns');
  for (let i = 0; i < 300; i++) mkdirSync(path.join(ns, `planted-${String(i).padStart(3, '0')}`), { recursive: true });
  for (const odd of ['Notes', '.hidden', 'with space']) mkdirSync(path.join(ns, odd), { recursive: true });
  const metrics = new Metrics();
  const store = await FileStore.open({
    projectRoot: ws.path,
    participant: { kind: 'headless', label: 't' },
    metrics,
    logger: silentLogger,
    options: { maxNamespaces: 20 },
  });
  cleanup.push(() => store.dispose());
  const names = await store.namespaces();
  assert.equal(names.length, 20, 'no more namespaces opened than the quota');
  assert.ok(!names.some((n) => ['Notes', '.hidden', 'with space'].includes(n)), names.join(', '));
  assert.ok((metrics.snapshot()['store.shards'] as number) <= 22, `open shards: ${String(metrics.snapshot()['store.shards'])}`);
  await assert.rejects(
    store.set('one-more', 'k', 1, { sessionId: 's', clientName: 'c', participantId: store.participantId }),
    (e: unknown) => isCoordinatorError(e, 'QuotaExceeded'),
  );
});

/** Open file descriptors of this process on namespace logs under `dir`. */
function openLogsUnder(dir: string): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(dir) && /wal\.\d+\.log$/.test(target)) n++;
    } catch {
      // Closed while we looked.
    }
  }
  return n;
}

test('R-SEC-1: open files do not grow with the number of namespaces: idle logs are closed and reopened on use, and other writers are still seen', async () => {
  const ws = tempDir('sc-openlogs-');
  cleanup.push(ws.remove);
  const options = { maxNamespaces: 400, maxOpenLogs: 8, pollMs: 200 };
  const open = (label: string): Promise<FileStore> =>
    FileStore.open({
      projectRoot: ws.path,
      participant: { kind: 'headless', label },
      metrics: new Metrics(),
      logger: silentLogger,
      options,
    });
  const a = await open('a');
  cleanup.push(() => a.dispose());
  const by = { sessionId: 's', clientName: 'c', participantId: a.participantId };
  for (let i = 0; i < 120; i++) await a.set(`ns-${i}`, 'k', i, by);
  await sleep(600);
  const held = openLogsUnder(ws.path);
  assert.ok(held <= 8, `${held} namespace logs open after 120 namespaces were written`);
  // Every namespace still reads and writes; a closed log reopens where it left off.
  for (let i = 0; i < 120; i += 7) {
    assert.equal((await a.get(`ns-${i}`, 'k'))?.value, i);
    assert.equal((await a.set(`ns-${i}`, 'k', i + 1000, by)).version, 2);
  }
  // Another participant writes into a namespace whose log this one closed: seen by the next poll.
  const b = await open('b');
  cleanup.push(() => b.dispose());
  await sleep(600);
  await b.set('ns-3', 'k', 'from b', { ...by, participantId: b.participantId });
  const deadline = Date.now() + 5000;
  while ((await a.get('ns-3', 'k'))?.value !== 'from b' && Date.now() < deadline) await sleep(50);
  assert.equal((await a.get('ns-3', 'k'))?.value, 'from b');
  await sleep(600);
  assert.ok(openLogsUnder(ws.path) <= 16, 'two participants: at most 8 open logs each');
});
