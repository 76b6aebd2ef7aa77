import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { Coordinator } from '../../../src/core/coordinator.js';
import { isCoordinatorError } from '../../../src/core/errors.js';
import { silentLogger } from '../../../src/core/logging/logger.js';
import { FileStore } from '../../../src/core/store/file/fileStore.js';
import type { OptionsOverride } from '../../../src/core/config.js';
import { REPO } from '../../support/processes.js';
import { tempDir } from '../../support/workspace.js';

const ws = tempDir();
after(() => ws.remove());

function coordinator(options: OptionsOverride = {}, onSessionCreate?: Coordinator['deps']['onSessionCreate']): Coordinator {
  const c = new Coordinator({ logger: silentLogger, allowedRoots: [ws.path], options, onSessionCreate });
  after(() => c.dispose());
  return c;
}

test('R-SES-1: 1,000 concurrent get-or-create calls for one id create exactly one session', async () => {
  let created = 0;
  const c = coordinator({}, () => {
    created++;
  });
  const all = await Promise.all(Array.from({ length: 1000 }, () => c.openSession({ transport: 'none' }, 'same-id')));
  assert.equal(created, 1);
  assert.equal(c.sessions.size, 1);
  assert.ok(
    all.every((s) => s === all[0]),
    'every caller gets the same object',
  );
  assert.equal(c.metrics.snapshot()['sessions.total'], 1);
  assert.equal(c.sessions.lockCount, 0, 'no lock left behind');
});

test('R-SES-3: root validation runs before the lock, and locks are per id', async () => {
  let releaseSlow!: () => void;
  const slowGate = new Promise<void>((r) => (releaseSlow = r));
  const c = coordinator({}, async (s) => {
    if (s.id === 'slow') await slowGate;
  });
  const slow = c.openSession({ transport: 'none' }, 'slow');
  // Another id is not held up by the slow creation's lock.
  const fast = await c.openSession({ transport: 'none' }, 'fast');
  assert.equal(fast.state.kind, 'active');
  // A bad root fails without ever taking a lock.
  const acquisitions = c.metrics.snapshot()['sessions.lock.acquisitions'];
  await assert.rejects(c.openSession({ transport: 'none', root: path.join(ws.path, 'missing') }, 'bad'), (e) =>
    isCoordinatorError(e, 'RootNotFound'),
  );
  assert.equal(c.metrics.snapshot()['sessions.lock.acquisitions'], acquisitions, 'a failed validation took no lock');
  releaseSlow();
  assert.equal((await slow).state.kind, 'active');
  assert.equal(c.sessions.lockCount, 0);
});

test('R-SES-4: at the limit the least recently active idle session is evicted, never a busy one', async () => {
  const c = coordinator({ sessions: { maxSessions: 3 } });
  const a = await c.openSession({ transport: 'none' }, 'a');
  const b = await c.openSession({ transport: 'none' }, 'b');
  const busy = await c.openSession({ transport: 'none' }, 'busy');
  a.lastActivityAt = 1000;
  b.lastActivityAt = 500;
  busy.lastActivityAt = 1;
  c.requests.begin('busy', 1, 'tools/call', () => undefined);
  const d = await c.openSession({ transport: 'none' }, 'd');
  assert.equal(d.state.kind, 'active');
  assert.equal(b.state.kind, 'closed', 'b was the least recently active idle session');
  assert.match((b.state as { reason: string }).reason, /evicted/);
  assert.equal(busy.state.kind, 'active', 'a session with a pending request is never evicted');
  assert.equal(a.state.kind, 'active');
  assert.equal(c.metrics.snapshot()['sessions.evicted'], 1);
});

test('R-SES-4: when nothing can be evicted creation fails with SessionLimitReached, and nothing thrashes', async () => {
  const c = coordinator({ sessions: { maxSessions: 2 } });
  const one = await c.openSession({ transport: 'http' }, 'one');
  const two = await c.openSession({ transport: 'http' }, 'two');
  one.attachedConnections = 1;
  two.attachedConnections = 1;
  for (let i = 0; i < 5; i++) {
    await assert.rejects(c.openSession({ transport: 'http' }), (e: unknown) => {
      assert.ok(isCoordinatorError(e, 'SessionLimitReached'));
      assert.match(e.message, /2 of 2 sessions/);
      assert.equal(e.details.limit, 2);
      return true;
    });
  }
  assert.equal(one.state.kind, 'active');
  assert.equal(two.state.kind, 'active');
  const m = c.metrics.snapshot();
  assert.equal(m['sessions.rejected'], 5);
  assert.equal(m['sessions.evicted'] ?? 0, 0);
});

test('R-SEC-2: a session that holds claims is never evicted to make room, even with no connection; the newcomer is refused instead', async () => {
  const c = new Coordinator({
    logger: silentLogger,
    allowedRoots: [ws.path],
    openStore: (projectRoot, metrics) =>
      FileStore.open({ projectRoot, participant: { kind: 'headless', label: 't' }, metrics, logger: silentLogger }),
    options: { sessions: { maxSessions: 2 } },
  });
  after(() => c.dispose());
  await c.start();
  const holder = await c.openSession({ transport: 'none' }, 'holder');
  const idle = await c.openSession({ transport: 'none' }, 'idle');
  holder.lastActivityAt = 1;
  idle.lastActivityAt = 2;
  await c.store.acquireClaim('src/a.ts', c.actorFor(holder), 60_000);
  await c.openSession({ transport: 'none' }, 'third');
  assert.equal(idle.state.kind, 'closed', 'the idle session without claims made room');
  assert.equal(holder.state.kind, 'active', 'the older session with a claim stayed');
  holder.lastActivityAt = 0;
  c.sessions.get('third')!.attachedConnections = 1;
  await assert.rejects(c.openSession({ transport: 'none' }, 'fourth'), (e) => isCoordinatorError(e, 'SessionLimitReached'));
  assert.equal(holder.state.kind, 'active');
  assert.equal((await c.store.listClaims()).length, 1, 'and its claim with it');
});

test('R-SES-5: idle sessions expire after the TTL; busy ones do not', async () => {
  const c = coordinator({ sessions: { ttlMs: 80, sweepIntervalMs: 20 } });
  const idle = await c.openSession({ transport: 'none' }, 'idle');
  const busy = await c.openSession({ transport: 'none' }, 'busy');
  c.requests.begin('busy', 'r1', 'tools/call', () => undefined);
  await new Promise((r) => setTimeout(r, 250));
  assert.equal(idle.state.kind, 'closed');
  assert.match((idle.state as { reason: string }).reason, /expired/);
  assert.equal(busy.state.kind, 'active');
  assert.ok(Number(c.metrics.snapshot()['sessions.expired']) >= 1);
});

test('R-SES-5: dispose stops every timer: a process that used the coordinator exits by itself', () => {
  const script = `
    const { Coordinator } = require('./src/core/coordinator.ts');
    const { silentLogger } = require('./src/core/logging/logger.ts');
    (async () => {
      const c = new Coordinator({ logger: silentLogger, allowedRoots: [${JSON.stringify(ws.path)}], options: { sessions: { sweepIntervalMs: 5 }, requests: { timeoutMs: 60000 } } });
      for (let i = 0; i < 50; i++) { const s = await c.openSession({ transport: 'none' }); c.requests.begin(s.id, 1, 'tools/call', () => {}); }
      c.dispose();
      process.stdout.write('disposed ' + c.sessions.size + ' ' + c.requests.size);
    })();`;
  const started = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: REPO, encoding: 'utf8', timeout: 15_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'disposed 0 0');
  assert.ok(Date.now() - started < 10_000, 'exited without waiting for the 60 s request timers');
});

test('R-SES-6: a failure during creation leaves nothing registered or allocated', async () => {
  const c = coordinator({}, (s) => {
    if (s.id.startsWith('doomed')) throw new Error('allocation failed');
  });
  const parent = await c.openSession({ transport: 'none' }, 'parent');
  await assert.rejects(c.openSession({ transport: 'none', parentId: 'parent' }, 'doomed-child'), /allocation failed/);
  await assert.rejects(c.openSession({ transport: 'none' }, 'doomed'), /allocation failed/);
  assert.equal(c.sessions.size, 1);
  assert.equal(c.sessions.get('doomed'), undefined);
  assert.deepEqual([...parent.childIds], []);
  assert.equal(c.requests.sessionCount, 0);
  assert.equal(c.sessions.lockCount, 0);
  assert.equal(c.metrics.snapshot()['sessions.creationFailures'], 2);
  // The id is free again: a later creation that succeeds gets a fresh session.
  assert.equal((await c.openSession({ transport: 'none' }, 'ok')).state.kind, 'active');
});

test('R-SES-7: a child names its parent, inherits root and tags, and closes with it', async () => {
  const c = coordinator();
  const parent = await c.openSession({ transport: 'http', tags: ['reviewer'] }, 'p');
  const child = await c.openSession({ transport: 'none', parentId: 'p', tags: ['extra'] }, 'c');
  const grandchild = await c.openSession({ transport: 'none', parentId: 'c' }, 'g');
  assert.equal(child.root, parent.root);
  assert.deepEqual(child.tags, ['extra', 'reviewer', 'sub-agent']);
  assert.deepEqual([...parent.childIds], ['c']);
  c.sessions.close('p', 'client left');
  assert.equal(child.state.kind, 'closed');
  assert.equal(grandchild.state.kind, 'closed');
  assert.equal(c.sessions.size, 0);
  await assert.rejects(c.openSession({ transport: 'none', parentId: 'p' }), (e) => isCoordinatorError(e, 'SessionNotFound'));
});

test('R-SES-8: a call without a session gets a well-formed default context', async () => {
  const c = coordinator();
  const ctx = await c.contextFor(undefined);
  assert.deepEqual(ctx, {
    sessionId: 'default',
    root: ws.path,
    client: { name: 'unknown', version: '0' },
    transport: 'none',
    isDefault: true,
  });
  const s = await c.openSession({ transport: 'stdio', client: { name: 'agent', version: '3' } });
  assert.deepEqual(await c.contextFor(s.id), {
    sessionId: s.id,
    root: ws.path,
    client: { name: 'agent', version: '3' },
    transport: 'stdio',
    isDefault: false,
  });
  assert.equal((await c.contextFor('no-such-session')).isDefault, true);
});

test('R-SES-9: metadata is populated and behaviour sets tags', async () => {
  const c = coordinator({ sessions: { longRunningMs: 0, highVolumeRequests: 3 } });
  const s = await c.openSession({ transport: 'http', client: { name: 'Claude Code', version: '2.1' } });
  for (let i = 0; i < 3; i++) s.touch(Date.now());
  c.sessions.sweep();
  const info = (await c.snapshot()).sessions[0]!;
  assert.equal(info.client.name, 'Claude Code');
  assert.equal(info.transport, 'http');
  assert.equal(info.requestCount, 3);
  assert.ok(info.durationMs >= 0 && info.lastActivityAt >= info.createdAt);
  assert.deepEqual(info.tags, ['high-volume', 'long-running']);
});

test('R-SES-10: a resume handle returns the live session; an unknown or closed one is refused', async () => {
  const c = coordinator();
  const s = await c.openSession({ transport: 'http' });
  assert.equal(c.resume(s.resumeHandle), s);
  assert.throws(
    () => c.resume('not-a-handle'),
    (e) => isCoordinatorError(e, 'ResumeHandleInvalid'),
  );
  c.sessions.close(s.id, 'bye');
  assert.throws(
    () => c.resume(s.resumeHandle),
    (e) => isCoordinatorError(e, 'ResumeHandleInvalid'),
  );
});

test('R-AGT-1, R-SES-5: a disconnected session ends after the grace unless it reconnects; resume brings it back; its timer never outlives it', async () => {
  const c = coordinator({ sessions: { disconnectGraceMs: 150 } });
  const back = await c.openSession({ transport: 'http' }, 'comes-back');
  const gone = await c.openSession({ transport: 'http' }, 'stays-gone');
  const resumed = await c.openSession({ transport: 'http' }, 'resumed');
  for (const s of [back, gone, resumed]) assert.equal(c.sessions.disconnect(s.id, 'http stream dropped'), true);
  assert.equal(gone.state.kind, 'disconnected');
  c.sessions.reconnect(back.id);
  assert.equal(c.resume(resumed.resumeHandle), resumed, 'a resume within the grace gets it back');
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual([back.state.kind, resumed.state.kind], ['active', 'active']);
  assert.equal(gone.state.kind, 'closed');
  assert.match((gone.state as { reason: string }).reason, /not back within 150 ms/);
  assert.equal(c.sessions.disconnect(gone.id, 'again'), false, 'an ended session cannot be disconnected');
  // A grace of 0 ends at once.
  assert.equal(c.sessions.disconnect(back.id, 'relay gone', 0), true);
  assert.equal(back.state.kind, 'closed');
});
