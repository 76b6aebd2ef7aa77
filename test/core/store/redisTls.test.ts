import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import type { ChangeEvent, StoreStatus, StoredValue } from '../../../src/core/store/sharedStore.js';
import { startRedisTlsServer, UNNAMED_LOOPBACK, type RedisTlsServer } from '../../support/redisTlsServer.js';
import { buildTlsWorker, startTlsStoreWorker, type TlsStoreWorker, type TlsWorkerStart } from '../../support/redisTlsWorkers.js';
import { tempDir } from '../../support/workspace.js';

/**
 * rediss:// against a real redis-server that speaks only TLS. The store has no
 * option for a CA of its own: a private CA is trusted the way a user of the
 * CLI or the extension would, with NODE_EXTRA_CA_CERTS, which Node reads only
 * at process start. So each store runs in a worker process started with it.
 */

const cleanup: Array<() => Promise<unknown>> = [];
let server: RedisTlsServer;
let root: string;
before(async () => {
  const t = tempDir();
  root = t.path;
  cleanup.push(t.remove);
  [server] = await Promise.all([startRedisTlsServer(), buildTlsWorker()]);
});
after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
  await server?.remove();
});

const project = (): string => `redis-tls-${randomBytes(6).toString('hex')}`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function worker(start: Omit<TlsWorkerStart, 'projectRoot'>): Promise<TlsStoreWorker> {
  const w = await startTlsStoreWorker({ projectRoot: root, ...start });
  cleanup.push(() => w.stop());
  return w;
}

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await sleep(10);
  }
  return Date.now() - started;
}

async function result<T>(w: TlsStoreWorker, command: Parameters<TlsStoreWorker['call']>[0]): Promise<T> {
  const r = await w.call(command);
  if (!r.ok) assert.fail(`${command.op} failed in the worker: ${r.error.code ?? ''} ${r.error.message}`);
  return r.result as T;
}

/** Node's warnings on the worker's stderr (e.g. DEP0123, an IP address as TLS ServerName), for the log. */
const warnings = (w: TlsStoreWorker): string[] =>
  w
    .stderr()
    .split('\n')
    .filter((l) => /Warning/.test(l));

test('R-CTX-9: rediss:// to a real TLS-only redis-server: two stores that trust the test CA (NODE_EXTRA_CA_CERTS) share a write and its change event', async () => {
  assert.match(server.url, /^rediss:\/\/127\.0\.0\.1:\d+\/0$/);
  const id = project();
  // A plain redis:// URL to the TLS port, opened alongside: it must not get through (no plaintext fallback).
  const plainUrl = server.url.replace('rediss://', 'redis://');
  const [a, b, plain] = await Promise.all([
    ...['tls-a', 'tls-b'].map((label) => worker({ url: server.url, projectId: id, label, extraCaCerts: server.caFile })),
    worker({
      url: plainUrl,
      projectId: id,
      label: 'plain',
      extraCaCerts: server.caFile,
      redisOptions: { connectWaitMs: 800, commandTimeoutMs: 1000 },
    }),
  ]);
  for (const w of [a!, b!]) {
    assert.equal(w.opened.type, 'opened', JSON.stringify(w.opened));
    const status = await result<StoreStatus>(w, { op: 'status' });
    assert.equal(status.kind, 'redis');
    assert.equal(status.degraded, false, status.reason);
    assert.equal(status.location, `${server.url} (project ${id})`);
  }
  const eventsBefore = b!.events.length;
  const written = await result<StoredValue>(a!, { op: 'set', namespace: 'tls', key: 'greeting', value: { hello: 'over TLS' } });
  assert.equal(written.version, 1);
  const read = await result<StoredValue | null>(b!, { op: 'get', namespace: 'tls', key: 'greeting' });
  assert.deepEqual(read?.value, { hello: 'over TLS' }, 'the other store reads the write');
  const isGreeting = (e: TlsStoreWorker['events'][number]): boolean => e.kind === 'change' && (e.change as ChangeEvent).key === 'greeting';
  const ms = await until('B hears of the change', () => b!.events.slice(eventsBefore).some(isGreeting));
  const change = b!.events.find(isGreeting)!.change as ChangeEvent;
  assert.deepEqual(
    { namespace: change.namespace, op: change.op, seq: change.seq, version: change.version, value: change.value },
    { namespace: 'tls', op: 'set', seq: 1, version: 1, value: { hello: 'over TLS' } },
  );
  assert.equal(change.by.participantId, a!.opened.type === 'opened' ? a!.opened.participantId : '');

  // The data is on this server, reached over TLS (it has no plaintext port: --port 0).
  const admin = new Redis({ host: '127.0.0.1', port: server.port, tls: { ca: readFileSync(server.caFile) }, maxRetriesPerRequest: 0 });
  cleanup.push(() => admin.quit());
  assert.deepEqual(await admin.hkeys(`sc:{${id}}:kv:tls`), ['greeting']);

  assert.equal(plain!.opened.type, 'opened', JSON.stringify(plain!.opened));
  const plainStatus = await result<StoreStatus>(plain!, { op: 'status' });
  assert.equal(plainStatus.degraded, true, 'redis:// to a TLS-only port is not connected');
  assert.equal(plainStatus.location, `${plainUrl} (project ${id})`);
  const plainRead = await plain!.call({ op: 'get', namespace: 'tls', key: 'greeting' });
  assert.ok(!plainRead.ok && plainRead.error.code === 'StoreUnavailable', JSON.stringify(plainRead));

  console.log(
    `# [redis-tls] opened in ${a!.opened.ms.toFixed(0)} / ${b!.opened.ms.toFixed(0)} ms; B had the change event ${ms} ms after its read returned; redis:// to the TLS port: ${plainStatus.reason}`,
  );
  for (const w of [a!, b!]) for (const line of warnings(w)) console.log(`# [redis-tls] worker stderr: ${line}`);
});

test('R-CTX-9: rediss:// that cannot verify the server (a CA that did not sign it, no CA, a host its certificate does not name) is refused: the store opens degraded within connectWaitMs, says why, and refuses reads and writes at once with StoreUnavailable', async () => {
  const connectWaitMs = 1500;
  const redisOptions = { connectWaitMs, commandTimeoutMs: 1000 };
  const cases = [
    { name: 'the wrong CA', url: server.url, extraCaCerts: server.wrongCaFile, reason: /certificate|verify/i },
    { name: 'no CA (system store only)', url: server.url, extraCaCerts: undefined, reason: /certificate|verify/i },
    {
      name: `the right CA, host ${UNNAMED_LOOPBACK} not in the certificate`,
      url: server.url.replace('127.0.0.1', UNNAMED_LOOPBACK),
      extraCaCerts: server.caFile,
      reason: /does not match|altnames/i,
    },
  ];
  const started = Date.now();
  const workers = await Promise.all(
    cases.map((c, i) =>
      worker({
        url: c.url,
        projectId: project(),
        label: `refused-${i}`,
        redisOptions,
        ...(c.extraCaCerts ? { extraCaCerts: c.extraCaCerts } : {}),
      }),
    ),
  );
  const openedWithin = Date.now() - started;
  assert.ok(openedWithin < connectWaitMs + 3000, `every open returned, none hung (${openedWithin} ms)`);
  for (const [i, c] of cases.entries()) {
    const w = workers[i]!;
    assert.equal(
      w.opened.type,
      'opened',
      `${c.name}: a degraded store, not a failed open (it keeps retrying): ${JSON.stringify(w.opened)}`,
    );
    assert.ok(
      w.opened.ms >= connectWaitMs - 50 && w.opened.ms < connectWaitMs + 1000,
      `${c.name}: open waited connectWaitMs (${w.opened.ms.toFixed(0)} ms)`,
    );
    const status = await result<StoreStatus>(w, { op: 'status' });
    assert.equal(status.degraded, true, `${c.name}: degraded`);
    assert.match(status.reason ?? '', /unreachable/, c.name);
    assert.match(status.reason ?? '', c.reason, `${c.name}: the reason names the TLS failure: ${status.reason}`);
    const t = performance.now();
    const write = await w.call({ op: 'set', namespace: 'tls', key: 'k', value: 1 });
    const read = await w.call({ op: 'get', namespace: 'tls', key: 'k' });
    const refusedMs = performance.now() - t;
    for (const r of [write, read]) {
      assert.equal(r.ok, false, `${c.name}: refused`);
      if (!r.ok) {
        assert.equal(r.error.code, 'StoreUnavailable', `${c.name}: ${r.error.message}`);
        assert.match(r.error.message, c.reason, `${c.name}: the error says why: ${r.error.message}`);
      }
    }
    assert.ok(refusedMs < 1000, `${c.name}: refused at once (${refusedMs.toFixed(0)} ms for a write and a read)`);
    assert.ok(
      w.logs.some((l) => l.level === 'warn' && /not reachable yet/.test(l.message) && c.reason.test(l.message)),
      `${c.name}: the log says the store is degraded and why: ${JSON.stringify(w.logs)}`,
    );
    console.log(
      `# [redis-tls] ${c.name}: opened degraded in ${w.opened.ms.toFixed(0)} ms; reason: ${status.reason}; a write and a read refused in ${refusedMs.toFixed(0)} ms`,
    );
  }
  const stopped = Date.now();
  await Promise.all(workers.map((w) => w.stop()));
  assert.ok(Date.now() - stopped < 3000, `a store still retrying the handshake closes promptly (${Date.now() - stopped} ms)`);
});
