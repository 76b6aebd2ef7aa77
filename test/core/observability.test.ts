import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Coordinator } from '../../src/core/coordinator.js';
import { silentLogger } from '../../src/core/logging/logger.js';
import { FileStore } from '../../src/core/store/file/fileStore.js';
import { tempDir } from '../support/workspace.js';

const ws = tempDir();
after(() => ws.remove());

test('R-OBS-1, R-OBS-2: one snapshot carries every metric the requirements name, from the start and as they move', async () => {
  const c = new Coordinator({
    logger: silentLogger,
    allowedRoots: [ws.path],
    openStore: (projectRoot, metrics) =>
      FileStore.open({ projectRoot, participant: { kind: 'headless', label: 't' }, metrics, logger: silentLogger }),
    options: { sessions: { maxSessions: 1 } },
  });
  after(() => c.dispose());
  await c.start();
  const names = [
    'sessions.total',
    'sessions.active',
    'sessions.evicted',
    'sessions.rejected',
    'sessions.creationFailures',
    'requests.pending',
    'roots.cacheHits',
    'roots.cacheMisses',
    'roots.doubleLoads',
    'store.lock.acquisitions',
    'store.lock.contended',
    'store.contextWrites',
    'store.corruptionDetected',
    'store.recoveries',
  ];
  const first = await c.snapshot();
  for (const n of names) assert.equal(typeof first.metrics[n], 'number', `${n} is in the snapshot before anything happened`);
  for (const n of ['store.lock.waitMs', 'store.propagationMs', 'requests.latencyMs'])
    assert.deepEqual(Object.keys(first.metrics[n] as object).sort(), ['count', 'p50', 'p99'], `${n}: p50 and p99`);
  assert.equal(typeof first.store.eventLogBytes, 'number', 'event-log size');

  const s = await c.openSession({ transport: 'http', root: ws.path });
  s.attachedConnections = 1;
  await assert.rejects(c.openSession({ transport: 'http' }));
  await c.store.set('notes', 'k', 1, c.actorFor(s));
  c.requests.begin(s.id, 1, 'tools/call', () => undefined);
  const later = await c.snapshot();
  assert.equal(later.metrics['sessions.total'], 1);
  assert.equal(later.metrics['sessions.active'], 1);
  assert.equal(later.metrics['sessions.rejected'], 1);
  assert.equal(later.metrics['requests.pending'], 1);
  assert.equal(later.metrics['roots.cacheMisses'], 1);
  assert.equal(later.metrics['store.contextWrites'], 1);
  assert.ok((later.metrics['store.lock.waitMs'] as { count: number }).count >= 1, 'lock waits are recorded');
  assert.ok(later.store.eventLogBytes > 0);
  assert.deepEqual(
    later.sessions.map((x) => x.id),
    [s.id],
  );
});
