import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCoordinatorError } from '../../../src/core/errors.js';
import type { Logger } from '../../../src/core/logging/logger.js';
import { silentLogger } from '../../../src/core/logging/logger.js';
import { Metrics } from '../../../src/core/metrics/metrics.js';
import { PendingRequests, type PendingRequest } from '../../../src/core/requests/pendingRequests.js';

const noop = () => undefined;

function tracker(limits: Partial<{ maxPerSession: number; maxTotal: number; timeoutMs: number }> = {}, logger: Logger = silentLogger) {
  const metrics = new Metrics();
  const t = new PendingRequests(metrics, logger, { maxPerSession: 1000, maxTotal: 10_000, timeoutMs: 30_000, ...limits });
  return { t, metrics };
}

test('R-REQ-1: requests are keyed per session; the same id in two sessions are two requests; ending a session drops all of its entries', () => {
  const { t } = tracker();
  t.begin('a', 1, 'tools/call', noop);
  t.begin('b', 1, 'tools/list', noop);
  t.begin('a', 2, 'ping', noop);
  assert.equal(t.size, 3);
  assert.equal(t.dropSession('a'), 2);
  assert.equal(t.countFor('a'), 0);
  assert.equal(t.take('b', 1)?.method, 'tools/list');
  assert.equal(t.size, 0);
  assert.equal(t.sessionCount, 0);
  t.dispose();
});

test('R-REQ-2: completion is one atomic take; a second take finds nothing', () => {
  const { t } = tracker();
  t.begin('s', 'x', 'tools/call', noop);
  const first = t.take('s', 'x');
  const second = t.take('s', 'x');
  assert.equal(first?.id, 'x');
  assert.equal(second, undefined);
});

test('R-REQ-3: each entry records its method; ids 1 and "1" are different requests', () => {
  const { t } = tracker();
  t.begin('s', 1, 'tools/call', noop);
  t.begin('s', '1', 'resources/read', noop);
  assert.equal(t.take('s', '1')?.method, 'resources/read');
  assert.equal(t.take('s', 1)?.method, 'tools/call');
  assert.throws(
    () => {
      t.begin('s', 7, 'a', noop);
      t.begin('s', 7, 'b', noop);
    },
    (e) => isCoordinatorError(e, 'DuplicateRequestId'),
  );
  t.dispose();
});

test('R-REQ-4: per-session and total limits refuse with TooManyRequests and the session keeps working', () => {
  const { t, metrics } = tracker({ maxPerSession: 3, maxTotal: 5 });
  for (let i = 0; i < 3; i++) t.begin('a', i, 'tools/call', noop);
  assert.throws(
    () => t.begin('a', 99, 'tools/call', noop),
    (e: unknown) =>
      isCoordinatorError(e, 'TooManyRequests') && /Too many requests: session a already has 3 pending \(limit 3\)/.test(e.message),
  );
  t.begin('b', 0, 'tools/call', noop);
  t.begin('b', 1, 'tools/call', noop);
  assert.throws(
    () => t.begin('c', 0, 'tools/call', noop),
    (e: unknown) => isCoordinatorError(e, 'TooManyRequests') && /coordinator already has 5 pending/.test(e.message),
  );
  t.take('a', 0);
  t.begin('a', 100, 'tools/call', noop);
  assert.equal(t.countFor('a'), 3);
  assert.equal(metrics.snapshot()['requests.rejected'], 2);
  t.dispose();
});

test('R-REQ-4: the default limits are 1,000 per session and 10,000 in total', () => {
  const { t } = tracker();
  for (let i = 0; i < 1000; i++) t.begin('one', i, 'tools/call', noop);
  assert.throws(
    () => t.begin('one', 1000, 'tools/call', noop),
    (e) => isCoordinatorError(e, 'TooManyRequests'),
  );
  for (let s = 0; s < 9; s++) for (let i = 0; i < 1000; i++) t.begin(`s${s}`, i, 'tools/call', noop);
  assert.equal(t.size, 10_000);
  assert.throws(
    () => t.begin('fresh', 0, 'tools/call', noop),
    (e) => isCoordinatorError(e, 'TooManyRequests'),
  );
  t.dispose();
  assert.equal(t.size, 0);
});

test('R-REQ-5: pending requests time out, are cleaned up and reported once', async () => {
  const { t, metrics } = tracker({ timeoutMs: 30 });
  const timedOut: PendingRequest[] = [];
  t.begin('s', 1, 'tools/call', (r) => timedOut.push(r));
  t.begin('s', 2, 'tools/call', (r) => timedOut.push(r));
  t.take('s', 2);
  await new Promise((r) => setTimeout(r, 120));
  assert.deepEqual(
    timedOut.map((r) => [r.sessionId, r.id, r.method]),
    [['s', 1, 'tools/call']],
  );
  assert.equal(t.size, 0);
  assert.equal(t.sessionCount, 0);
  assert.equal(metrics.snapshot()['requests.timeouts'], 1);
});

test('R-REQ-6: a lost correlation is logged as a warning with both ids and counted', () => {
  const warnings: string[] = [];
  const { t, metrics } = tracker({}, { ...silentLogger, warn: (m: string) => void warnings.push(m) });
  assert.equal(t.take('sess-9', 'req-4'), undefined);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /sess-9/);
  assert.match(warnings[0]!, /req-4/);
  assert.equal(metrics.snapshot()['requests.correlationLost'], 1);
  t.begin('s', 1, 'x', noop);
  assert.equal(t.cancel('s', 1), true, 'a cancelled request is forgotten without a warning');
  assert.equal(warnings.length, 1);
});
