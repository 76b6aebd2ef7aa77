import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { isCoordinatorError } from '../../../src/core/errors.js';
import { silentLogger } from '../../../src/core/logging/logger.js';
import { Metrics } from '../../../src/core/metrics/metrics.js';
import { FileStore } from '../../../src/core/store/file/fileStore.js';
import { RedisStore } from '../../../src/core/store/redis/redisStore.js';
import type { Actor } from '../../../src/core/store/actors.js';
import type { ChangeEvent, SharedStore, StoreEvent } from '../../../src/core/store/sharedStore.js';
import { buildContractWorker, startContractWorker, type BackendConfig } from '../../support/contractWorkers.js';
import { stopChild } from '../../support/processes.js';
import { startRedisServer, type RedisServer } from '../../support/redisServer.js';
import { tempDir } from '../../support/workspace.js';

/**
 * The store contract (R-CTX-9): the SAME cases against every backend. "Machines"
 * are separate processes; on Redis each has its own workspace folder and
 * they share only the project id. Nothing here is skipped on one backend.
 */

const cleanup: Array<() => Promise<unknown>> = [];
let redis: RedisServer;
before(async () => {
  await buildContractWorker();
  redis = await startRedisServer();
});
after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
  await redis?.remove();
});

interface Project {
  /** The folder of the first machine (the file store's only folder). */
  readonly root: string;
  readonly projectId: string;
}

interface OpenOptions {
  label?: string;
  maxEventLogBytes?: number;
  maxNamespaces?: number;
  maxNamespaceBytes?: number;
  maxStoreBytes?: number;
}

/** The quota options a test asked for, as either backend takes them. */
function quotas(options: OpenOptions): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of ['maxNamespaces', 'maxNamespaceBytes', 'maxStoreBytes'] as const) if (options[k] !== undefined) out[k] = options[k];
  return out;
}

interface Backend {
  readonly name: 'file' | 'redis';
  open(project: Project, options?: OpenOptions): Promise<{ store: SharedStore; metrics: Metrics }>;
  worker(project: Project): BackendConfig;
}

function folder(): string {
  const t = tempDir();
  cleanup.push(t.remove);
  return t.path;
}

function newProject(): Project {
  return { root: folder(), projectId: `contract-${randomBytes(6).toString('hex')}` };
}

function track<T extends SharedStore>(store: T): T {
  cleanup.push(() => Promise.resolve(store.dispose()));
  return store;
}

const backends: Backend[] = [
  {
    name: 'file',
    async open(project, options = {}) {
      const metrics = new Metrics();
      const store = await FileStore.open({
        projectRoot: project.root,
        participant: { kind: 'headless', label: options.label ?? 'contract' },
        metrics,
        logger: silentLogger,
        options: {
          pollMs: 60_000,
          ...(options.maxEventLogBytes ? { maxEventLogBytes: options.maxEventLogBytes, rotateBytes: 4096, backups: 3 } : {}),
          ...quotas(options),
        },
      });
      return { store: track(store), metrics };
    },
    worker: (project) => ({ kind: 'file', root: project.root }),
  },
  {
    name: 'redis',
    async open(project, options = {}) {
      const metrics = new Metrics();
      // Every instance is another "machine": its own folder, the same project id.
      folder();
      const store = await RedisStore.open({
        url: redis.url,
        projectId: project.projectId,
        participant: { kind: 'headless', label: options.label ?? 'contract' },
        metrics,
        logger: silentLogger,
        options: { ...(options.maxEventLogBytes ? { maxEventLogBytes: options.maxEventLogBytes } : {}), ...quotas(options) },
      });
      return { store: track(store), metrics };
    },
    worker: (project) => ({ kind: 'redis', url: redis.url, projectId: project.projectId }),
  },
];

const alice: Actor = { sessionId: 's-alice', clientName: 'Agent Alice', participantId: 'p-1' };
const bob: Actor = { sessionId: 's-bob', clientName: 'Agent Bob', participantId: 'p-2' };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const carolOf = (): Actor => ({ sessionId: 's-carol', clientName: 'Agent Carol', participantId: 'p-3' });

async function until<T>(what: string, read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms; last ${JSON.stringify(value)}`);
    await sleep(20);
  }
}

function refusedWith(code: string, pattern?: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(isCoordinatorError(e), `expected a CoordinatorError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  };
}

for (const backend of backends) {
  describe(`${backend.name} store`, () => {
    const name = (ids: string, what: string): string => `[${backend.name}] R-CTX-9, ${ids}: ${what}`;

    test(
      name('R-CTX-3', 'versions and compare-and-set; a conflict names the key, the expected and the current version, and writes nothing'),
      async () => {
        const { store } = await backend.open(newProject());
        assert.equal(await store.get('ns', 'k'), undefined);
        const v1 = await store.set('ns', 'k', 'a', alice, { expectedVersion: 0 });
        assert.equal(v1.version, 1);
        assert.deepEqual(v1.updatedBy, alice);
        assert.equal(typeof v1.updatedAt, 'number');
        assert.equal((await store.set('ns', 'k', 'b', bob, { expectedVersion: 1 })).version, 2);
        await assert.rejects(
          store.set('ns', 'k', 'c', alice, { expectedVersion: 1 }),
          refusedWith('VersionConflict', /ns\/k: expected version 1, current version is 2/),
        );
        await assert.rejects(
          store.set('ns', 'k', 'c', alice, { expectedVersion: 0 }),
          refusedWith('VersionConflict', /current version is 2/),
          'expectedVersion 0 means only if absent',
        );
        const got = await store.get('ns', 'k');
        assert.deepEqual([got?.value, got?.version, got?.updatedBy.sessionId], ['b', 2, bob.sessionId], 'a refused write changes nothing');
        assert.equal((await store.set('ns', 'k', { deep: [1, 2.5, 'x', null, [], {}] }, alice)).version, 3, 'an unconditional set applies');
        assert.deepEqual(
          (await store.get('ns', 'k'))?.value,
          { deep: [1, 2.5, 'x', null, [], {}] },
          'JSON values come back exactly (empty arrays stay arrays)',
        );
        await store.set('ns', 'big-number', 2 ** 53 - 1, alice);
        assert.equal((await store.get('ns', 'big-number'))?.value, 2 ** 53 - 1, 'no rounding of numbers');
        await assert.rejects(store.set('ns', 'big', 'x'.repeat(1024 * 1024 + 1), alice), refusedWith('ValueTooLarge'));
        await assert.rejects(store.set('../escape', 'k', 1, alice), refusedWith('InvalidArgument', /Namespace/));
        await assert.rejects(store.set('_claims', 'k', 1, alice), refusedWith('InvalidArgument', /Namespace/));
        await assert.rejects(store.get('ns', ''), refusedWith('InvalidArgument', /Key/));
      },
    );

    test(
      name('R-CTX-3', 'update never conflicts: 2 instances x 25 concurrent updates end at exactly 50, and a deleted key reads as absent'),
      async () => {
        const project = newProject();
        const a = (await backend.open(project)).store;
        const b = (await backend.open(project)).store;
        const inc = (c: { value: unknown } | undefined): number => ((c?.value as number | undefined) ?? 0) + 1;
        await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).update('counters', 'n', inc, i % 2 ? alice : bob)));
        const final = await a.get('counters', 'n');
        assert.equal(final?.value, 50, 'no update lost');
        assert.equal(final?.version, 50);
        await a.delete('counters', 'n', alice);
        let seen: unknown = 'not called';
        const next = await b.update('counters', 'n', (c) => ((seen = c), 1), bob);
        assert.equal(seen, undefined, 'update sees a deleted key as absent');
        assert.equal(next.version, 52, 'versions continue after a delete');
        assert.equal(next.value, 1);
      },
    );

    test(
      name('R-CTX-3', 'delete keeps a tombstone: a deleted key is version 0 for compare-and-set, versions never go back (no ABA)'),
      async () => {
        const { store } = await backend.open(newProject());
        await store.set('ns', 'k', 'a', alice);
        await store.set('ns', 'k', 'b', alice);
        await assert.rejects(
          store.delete('ns', 'k', alice, { expectedVersion: 1 }),
          refusedWith('VersionConflict', /current version is 2/),
        );
        assert.deepEqual(await store.delete('ns', 'k', alice, { expectedVersion: 2 }), { deleted: true, version: 3 });
        assert.equal(await store.get('ns', 'k'), undefined);
        assert.deepEqual(await store.delete('ns', 'k', alice), { deleted: false, version: 0 }, 'deleting an absent key deletes nothing');
        assert.deepEqual(await store.delete('ns', 'never', alice, { expectedVersion: 0 }), { deleted: false, version: 0 });
        await assert.rejects(
          store.set('ns', 'k', 'c', alice, { expectedVersion: 2 }),
          refusedWith('VersionConflict', /current version is 0/),
          'the old version does not come back',
        );
        await assert.rejects(
          store.set('ns', 'k', 'c', alice, { expectedVersion: 3 }),
          refusedWith('VersionConflict'),
          'nor the tombstone version',
        );
        assert.equal((await store.set('ns', 'k', 'c', alice, { expectedVersion: 0 })).version, 4, 're-created on top of the tombstone');
      },
    );

    test(name('R-CTX-2, R-CTX-3', 'list filters by prefix in key order; namespaces lists what was written, never the claims'), async () => {
      const project = newProject();
      const { store } = await backend.open(project);
      await store.set('plans', 'notes/2', 'second', alice);
      await store.set('plans', 'notes/1', 'first', bob);
      await store.set('plans', 'plan', { step: 1 }, alice);
      await store.set('plans', 'gone', 1, alice);
      await store.delete('plans', 'gone', alice);
      await store.set('other', 'x', 1, alice);
      await store.acquireClaim('src/a.ts', alice, 60_000);
      assert.deepEqual(
        (await store.list('plans')).map((e) => [e.key, e.value, e.version]),
        [
          ['notes/1', 'first', 1],
          ['notes/2', 'second', 1],
          ['plan', { step: 1 }, 1],
        ],
      );
      assert.deepEqual(
        (await store.list('plans', 'notes/')).map((e) => e.key),
        ['notes/1', 'notes/2'],
      );
      assert.deepEqual((await store.list('plans', 'notes/1'))[0]?.updatedBy, bob);
      assert.deepEqual(await store.namespaces(), ['other', 'plans']);
      const other = (await backend.open(project)).store;
      assert.deepEqual(
        (await other.list('plans')).map((e) => e.key),
        ['notes/1', 'notes/2', 'plan'],
        'another instance reads the same',
      );
      const status = await other.status();
      assert.equal(status.kind, backend.name);
      assert.equal(status.degraded, false);
      assert.deepEqual(
        status.namespaces.map((n) => [n.name, n.keys, n.lastSeq]),
        [
          ['other', 1, 1],
          ['plans', 3, 5],
        ],
      );
      assert.ok(status.eventLogBytes > 0);
      if (backend.name === 'redis') assert.ok(status.location.includes(`project ${project.projectId}`), status.location);
      // Asked last: the file store creates a namespace's folder when it is first read, and lists it from then on.
      assert.deepEqual(await store.list('empty'), []);
    });

    test(
      name(
        'R-SEC-1, R-SEC-7',
        'reads create nothing; a write past the namespace quota is refused with QuotaExceeded while reads and existing namespaces go on; upper-case namespaces are refused',
      ),
      async () => {
        const project = newProject();
        const { store } = await backend.open(project, { maxNamespaces: 3 });
        for (let i = 0; i < 50; i++) {
          assert.equal(await store.get(`never-written-${i}`, 'k'), undefined);
          assert.deepEqual(await store.list(`never-listed-${i}`), []);
          assert.deepEqual(await store.delete(`never-deleted-${i}`, 'k', alice), { deleted: false, version: 0 });
        }
        assert.deepEqual(await store.namespaces(), [], '150 reads and deletes created no namespace');
        for (const ns of ['one', 'two', 'three']) await store.set(ns, 'k', ns, alice);
        await assert.rejects(
          store.set('four', 'k', 1, alice),
          refusedWith('QuotaExceeded', /"four" would be one too many: the store holds 3 namespaces, the most it may hold \(3\)/),
        );
        await assert.rejects(
          store.update('four', 'k', () => 1, alice),
          refusedWith('QuotaExceeded'),
        );
        assert.equal((await store.set('two', 'k2', 2, alice)).version, 1, 'an existing namespace takes writes');
        assert.deepEqual((await store.get('one', 'k'))?.value, 'one', 'reads go on');
        assert.deepEqual(await store.namespaces(), ['one', 'three', 'two'], 'nothing was created for the refused write');
        // Claims live apart: the quota never blocks them.
        assert.equal((await store.acquireClaim('src/a.ts', alice, 60_000)).resource, 'src/a.ts');
        await assert.rejects(
          store.set('Notes', 'k', 1, alice),
          refusedWith('InvalidArgument', /"Notes" has upper-case letters: namespaces are lower case.*use "notes"/),
        );
        await assert.rejects(store.get('Notes', 'k'), refusedWith('InvalidArgument'));
      },
    );

    test(
      name(
        'R-SEC-1',
        'bytes per namespace and per store are bounded: growth past either quota is refused with QuotaExceeded, shrinking and reads go on, deleting makes room',
      ),
      async () => {
        const project = newProject();
        const { store } = await backend.open(project, { maxNamespaceBytes: 1000, maxStoreBytes: 2000 });
        const big = 'x'.repeat(500);
        await store.set('one', 'k1', big, alice); // 2 + 502 bytes
        await assert.rejects(
          store.set('one', 'k2', big, alice),
          refusedWith('QuotaExceeded', /Namespace "one" would hold 1008 bytes with one\/k2; the limit is 1000 bytes per namespace/),
        );
        await assert.rejects(
          store.update('one', 'k2', () => big, alice),
          refusedWith('QuotaExceeded'),
        );
        assert.equal(await store.get('one', 'k2'), undefined, 'nothing written for the refused value');
        await store.set('one', 'k1', 'x'.repeat(100), alice);
        await store.set('one', 'k2', big, alice);
        await store.set('two', 'k', 'y'.repeat(900), alice);
        await assert.rejects(
          store.set('three', 'k', 'z'.repeat(900), alice),
          (e: unknown) =>
            refusedWith('QuotaExceeded', /The store would hold .* for the whole store/)(e) &&
            (e as { details: { scope: string } }).details.scope === 'store',
        );
        assert.equal((await store.get('two', 'k'))?.value, 'y'.repeat(900), 'reads go on');
        await store.delete('two', 'k', alice);
        assert.equal((await store.set('three', 'k', 'z'.repeat(900), alice)).version, 1, 'a delete made room');
      },
    );

    test(
      name(
        'R-CTX-5',
        'the event log keeps who, what, when and the previous value; pages follow the cursor with no gap or duplicate, across namespaces',
      ),
      async () => {
        const project = newProject();
        const { store } = await backend.open(project);
        const before = Date.now();
        await store.set('log', 'plan', { step: 1 }, alice);
        await store.set('log', 'plan', { step: 2 }, bob);
        await store.set('other', 'x', 1, bob);
        await store.delete('log', 'plan', alice);
        await store.set('log', 'plan', 'again', bob);
        const all = await store.history({ namespace: 'log' });
        assert.deepEqual(
          all.records.map((r) => [r.namespace, r.seq, r.key, r.op, r.version, r.previousVersion, r.by.sessionId]),
          [
            ['log', 1, 'plan', 'set', 1, 0, alice.sessionId],
            ['log', 2, 'plan', 'set', 2, 1, bob.sessionId],
            ['log', 3, 'plan', 'delete', 3, 2, alice.sessionId],
            ['log', 4, 'plan', 'set', 4, 3, bob.sessionId],
          ],
        );
        const [r1, r2, r3, r4] = all.records as [ChangeEvent, ChangeEvent, ChangeEvent, ChangeEvent];
        assert.equal(r1.previousValue, undefined, 'nothing before the first set');
        assert.deepEqual(r2.previousValue, { step: 1 });
        assert.deepEqual(r2.value, { step: 2 });
        assert.deepEqual(r3.previousValue, { step: 2 }, 'a delete records the value it removed');
        assert.equal(r3.value, undefined);
        assert.equal(r4.previousValue, undefined, 'nothing live before a re-create');
        assert.deepEqual(r1.by, alice);
        assert.ok(r1.at >= before - 1000 && r1.at <= Date.now() + 1000, 'when');

        // Paging: every namespace, 2 at a time, from another instance.
        const reader = (await backend.open(project)).store;
        const seen: string[] = [];
        let cursor: string | undefined;
        for (let page = 0; page < 10; page++) {
          const p = await reader.history({ limit: 2, ...(cursor ? { cursor } : {}) });
          if (!p.records.length) break;
          assert.ok(p.records.length <= 2);
          seen.push(...p.records.map((r) => `${r.namespace}:${r.seq}`));
          cursor = p.nextCursor;
        }
        assert.deepEqual([...seen].sort(), ['log:1', 'log:2', 'log:3', 'log:4', 'other:1'], 'each record once');
        assert.deepEqual((await reader.history({ cursor: cursor! })).records, [], 'the cursor continues after the last record');
        await store.set('log', 'later', 1, alice);
        assert.deepEqual(
          (await reader.history({ cursor: cursor! })).records.map((r) => [r.namespace, r.seq, r.key]),
          [['log', 5, 'later']],
          'and picks up new records',
        );
        assert.deepEqual(
          (await reader.history({ sessionId: bob.sessionId })).records.map((r) => `${r.namespace}:${r.seq}`).sort(),
          ['log:2', 'log:4', 'other:1'],
          'by session',
        );
        await assert.rejects(reader.history({ cursor: 'not-a-cursor' }), refusedWith('InvalidArgument', /cursor/));
        await assert.rejects(reader.history({ namespace: '_claims' }), refusedWith('InvalidArgument'));
      },
    );

    test(name('R-CTX-5', 'the event log stays within its byte bound; what is kept reads on to the newest record with no gap'), async () => {
      const { store } = await backend.open(newProject(), { maxEventLogBytes: 16_384 });
      for (let i = 0; i < 300; i++) await store.set('bounded', `k${i % 7}`, { i, pad: 'x'.repeat(40) }, alice);
      const first = await store.history({ namespace: 'bounded', limit: 1 });
      const oldest = first.records[0]!.seq;
      assert.ok(oldest > 1, `old records were dropped (oldest kept ${oldest})`);
      const seqs = [oldest];
      let cursor = first.nextCursor;
      for (;;) {
        const p = await store.history({ namespace: 'bounded', cursor, limit: 100 });
        if (!p.records.length) break;
        seqs.push(...p.records.map((r) => r.seq));
        cursor = p.nextCursor;
      }
      assert.deepEqual(
        seqs,
        Array.from({ length: 300 - oldest + 1 }, (_, i) => oldest + i),
      );
      const status = await store.status();
      assert.ok(status.eventLogBytes <= 16_384 + 4096, `bounded: ${status.eventLogBytes} bytes`);
      assert.ok(status.eventLogBytes > 4096, `but not emptied: ${status.eventLogBytes} bytes`);
      assert.equal((await store.get('bounded', 'k6'))?.version, 42, 'the data itself is never trimmed (k6: i = 6, 13, ... 293)');
    });

    test(
      name('R-CLM-1', 'overlapping claims are refused with the holder session, client and expiry; disjoint ones are granted'),
      async () => {
        const project = newProject();
        const a = (await backend.open(project)).store;
        const b = (await backend.open(project)).store;
        const held = await a.acquireClaim('src/app.ts', alice, 600_000);
        assert.equal(held.resource, 'src/app.ts');
        assert.deepEqual(held.holder, alice);
        assert.ok(held.fencingToken >= 1);
        assert.equal(held.expiresAt - held.acquiredAt, 600_000);
        const expiry = new Date(held.expiresAt).toISOString();
        for (const resource of ['src/app.ts', 'src', '.']) {
          await assert.rejects(b.acquireClaim(resource, bob, 60_000), (e: unknown) => {
            assert.ok(isCoordinatorError(e, 'ClaimConflict'), String(e));
            for (const part of [alice.sessionId, alice.clientName, expiry, 'src/app.ts'])
              assert.ok(e.message.includes(part), `${resource}: names ${part}: ${e.message}`);
            assert.equal(e.details.heldResource, 'src/app.ts');
            return true;
          });
        }
        assert.equal(
          (await b.acquireClaim('src/app.tsx', bob, 60_000)).holder.sessionId,
          bob.sessionId,
          'overlap is by path segment, not string prefix',
        );
        assert.equal((await b.acquireClaim('srcx/app.ts', bob, 60_000)).resource, 'srcx/app.ts');
        await a.acquireClaim('task:deploy', alice, 60_000);
        await assert.rejects(b.acquireClaim('task:deploy', bob, 60_000), refusedWith('ClaimConflict', /s-alice \(Agent Alice\)/));
        await b.acquireClaim('task:build', bob, 60_000);
        assert.equal((await b.acquireClaim('task', bob, 60_000)).resource, 'task', 'a file named "task" does not overlap task claims');
        await assert.rejects(
          a.acquireClaim('src', alice, 60_000),
          refusedWith('ClaimConflict', /through src\/app\.tsx.*s-bob/),
          'a folder claim is refused while another session holds a file in it',
        );
        await assert.rejects(a.acquireClaim('.', alice, 60_000), refusedWith('ClaimConflict'), '"." overlaps everything');
        const again = await a.acquireClaim('src/app.ts', alice, 60_000);
        assert.ok(again.fencingToken > held.fencingToken, 'a session may overlap its own claims; a re-grant gets a newer token');
        assert.deepEqual(
          (await b.listClaims()).map((c) => [c.resource, c.holder.clientName]).sort(),
          [
            ['src/app.ts', 'Agent Alice'],
            ['src/app.tsx', 'Agent Bob'],
            ['srcx/app.ts', 'Agent Bob'],
            ['task', 'Agent Bob'],
            ['task:build', 'Agent Bob'],
            ['task:deploy', 'Agent Alice'],
          ],
          'either instance lists exactly the grants',
        );
        assert.deepEqual((await a.listClaims('task:')).map((c) => c.resource).sort(), ['task:build', 'task:deploy']);
      },
    );

    test(
      name(
        'R-CLM-2',
        'fencing tokens strictly increase per resource; renew and release need the holder session and the current token; revoke needs the token only',
      ),
      async () => {
        const project = newProject();
        const a = (await backend.open(project)).store;
        const b = (await backend.open(project)).store;
        const r = 'docs/guide.md';
        const first = await a.acquireClaim(r, alice, 30_000);
        await a.releaseClaim(r, first.fencingToken, alice);
        const second = await b.acquireClaim(r, bob, 30_000);
        assert.ok(second.fencingToken > first.fencingToken);
        await assert.rejects(
          a.renewClaim(r, first.fencingToken, 30_000, alice),
          refusedWith('StaleFencingToken', /older than the current grant/),
        );
        await assert.rejects(a.releaseClaim(r, first.fencingToken, alice), refusedWith('StaleFencingToken'));
        await assert.rejects(
          b.releaseClaim(r, first.fencingToken, bob),
          refusedWith('StaleFencingToken'),
          'an older token is refused whoever presents it',
        );
        await assert.rejects(b.renewClaim(r, second.fencingToken + 1, 30_000, bob), refusedWith('ClaimNotHeld'), 'a token never granted');
        await assert.rejects(
          a.renewClaim(r, second.fencingToken, 86_400_000, alice),
          refusedWith('ClaimNotHeld', /held by session s-bob \(Agent Bob\).*only its holder/),
        );
        await assert.rejects(a.releaseClaim(r, second.fencingToken, alice), refusedWith('ClaimNotHeld', /only its holder/));
        assert.deepEqual(
          (await a.listClaims('docs/')).map((c) => [c.resource, c.fencingToken, c.holder.sessionId, c.expiresAt]),
          [[r, second.fencingToken, bob.sessionId, second.expiresAt]],
          'refused calls changed nothing',
        );
        const renewed = await b.renewClaim(r, second.fencingToken, 120_000, bob);
        assert.equal(renewed.fencingToken, second.fencingToken, 'renewing keeps the token');
        assert.ok(renewed.expiresAt > second.expiresAt, 'and extends the expiry');
        assert.equal(renewed.acquiredAt, second.acquiredAt);
        await assert.rejects(
          a.revokeClaim(r, first.fencingToken, alice),
          refusedWith('StaleFencingToken'),
          'a revocation names the exact grant it saw',
        );
        await a.revokeClaim(r, second.fencingToken, { sessionId: 'person', clientName: 'panel', participantId: 'p-1' });
        assert.deepEqual(await a.listClaims('docs/'), []);
        await assert.rejects(b.releaseClaim(r, second.fencingToken, bob), refusedWith('ClaimNotHeld'), 'a revoked grant is gone');
        const tokens = [second.fencingToken];
        for (let i = 0; i < 10; i++) {
          const s = i % 2 ? a : b;
          const who = i % 2 ? alice : bob;
          const c = await s.acquireClaim(r, who, 30_000);
          if (i % 3 === 0) await s.renewClaim(r, c.fencingToken, 30_000, who);
          await s.releaseClaim(r, c.fencingToken, who);
          tokens.push(c.fencingToken);
        }
        for (let i = 1; i < tokens.length; i++) assert.ok(tokens[i]! > tokens[i - 1]!, `tokens strictly increase: ${tokens.join(', ')}`);
      },
    );

    test(
      name(
        'R-AGT-2, R-AGT-4',
        'claims belong to the agent: two sessions of one agent never block each other, others are refused with the agent named, releaseClaimsOf(agentKey) frees them all',
      ),
      async () => {
        const project = newProject();
        const { store } = await backend.open(project);
        const other = (await backend.open(project)).store;
        const agent = { kind: 'claude-code', sessionId: 'cc-7f3a9b21' };
        const first: Actor = { sessionId: 's-first', clientName: 'claude-code', participantId: 'p-1', agent };
        const second: Actor = { sessionId: 's-second', clientName: 'claude-code', participantId: 'p-2', agent };
        const guard: Actor = { ...second, via: 'edit-guard' };
        const folder = await store.acquireClaim('src', first, 60_000);
        const file = await other.acquireClaim('src/a.ts', guard, 60_000);
        assert.deepEqual(file.holder, guard, 'the holder keeps its agent and how the claim was taken');
        await assert.rejects(
          other.acquireClaim('src/b.ts', bob, 60_000),
          refusedWith('ClaimConflict', /by claude-code session cc-7f3a9…, session s-first \(claude-code\)/),
        );
        // Renew and release by the agent's other session are the agent's own.
        assert.ok((await other.renewClaim('src', folder.fencingToken, 120_000, second)).expiresAt > folder.expiresAt);
        await assert.rejects(other.releaseClaim('src', folder.fencingToken + 1, bob), refusedWith('ClaimNotHeld'));
        assert.equal(await other.releaseClaimsOf({ agentKey: 'claude-code:cc-7f3a9b21' }), 2);
        assert.deepEqual(await store.listClaims(), []);
        assert.equal(await other.releaseClaimsOf({ agentKey: 'claude-code:someone-else' }), 0);
      },
    );

    test(name('R-CLM-3', 'claims expire after their TTL; releaseClaimsOf frees every claim of a session or of a participant'), async () => {
      const project = newProject();
      const a = (await backend.open(project)).store;
      const b = (await backend.open(project)).store;
      const short = await a.acquireClaim('src/short.ts', alice, 100);
      await assert.rejects(b.acquireClaim('src/short.ts', bob, 60_000), refusedWith('ClaimConflict'));
      await sleep(200);
      assert.deepEqual(await b.listClaims('src/short.ts'), [], 'an expired claim is not listed');
      await assert.rejects(a.renewClaim('src/short.ts', short.fencingToken, 60_000, alice), refusedWith('ClaimNotHeld'), 'nor renewable');
      const taken = await b.acquireClaim('src/short.ts', bob, 60_000);
      assert.ok(taken.fencingToken > short.fencingToken);
      await b.releaseClaim('src/short.ts', taken.fencingToken, bob);

      await a.acquireClaim('src/one.ts', alice, 60_000);
      await a.acquireClaim('task:two', alice, 60_000);
      await b.acquireClaim('src/three.ts', bob, 60_000);
      await b.acquireClaim('src/four.ts', { ...bob, sessionId: 's-bob-child' }, 60_000);
      assert.equal(await b.releaseClaimsOf({ sessionId: 'nobody' }), 0);
      assert.equal(await b.releaseClaimsOf({ sessionId: alice.sessionId }), 2, 'both claims of the session');
      assert.deepEqual((await a.listClaims()).map((c) => c.resource).sort(), ['src/four.ts', 'src/three.ts']);
      assert.equal(await a.releaseClaimsOf({ participantId: bob.participantId }), 2, 'every session of the participant');
      assert.deepEqual(await b.listClaims(), []);
      assert.equal((await a.acquireClaim('src/one.ts', bob, 60_000)).holder.sessionId, bob.sessionId, 'free for anyone');
    });

    test(name('R-CTX-7', 'presence: two instances see each other with their sessions; a closed one is gone'), async () => {
      const project = newProject();
      const a = (await backend.open(project, { label: 'window A' })).store;
      const b = (await backend.open(project, { label: 'window B' })).store;
      const session = {
        id: 'sess-1',
        clientName: 'Agent Alice',
        transport: 'http',
        state: 'active',
        root: '/w',
        tags: ['x'],
        requestCount: 3,
        lastActivityAt: Date.now(),
      };
      await a.heartbeat([session]);
      const both = await until(
        "both participants listed with A's session",
        () => b.participants(),
        (ps) => ps.length === 2 && ps.some((p) => p.sessions.some((s) => s.id === 'sess-1')),
      );
      const entryA = both.find((p) => p.participantId === a.participantId)!;
      assert.deepEqual([entryA.label, entryA.kind, entryA.pid, entryA.sessions[0]], ['window A', 'headless', process.pid, session]);
      assert.deepEqual(
        (await a.participants()).map((p) => p.participantId).sort(),
        both.map((p) => p.participantId).sort(),
        'both see the same participants',
      );
      await b.dispose();
      const left = await until(
        'the closed instance is gone',
        () => a.participants(),
        (ps) => ps.length === 1,
        3000,
      );
      assert.equal(left[0]!.participantId, a.participantId);
    });

    test(
      name('R-CTX-6', 'propagation: a change, a claim and a control request from one instance reach the other through onEvent'),
      async () => {
        const project = newProject();
        const { store: a, metrics } = await backend.open(project);
        const b = (await backend.open(project)).store;
        const events: Array<{ at: number; event: StoreEvent }> = [];
        a.watchChanges('notes');
        a.onEvent((event) => events.push({ at: Date.now(), event }));
        const ownEvents: StoreEvent[] = [];
        b.onEvent((event) => ownEvents.push(event));
        const changes = (): ChangeEvent[] => events.flatMap((e) => (e.event.kind === 'change' ? [e.event.change] : []));
        await b.set('notes', 'warmup', 0, bob);
        await until(
          'the first change',
          async () => changes().length,
          (n) => n >= 1,
        );
        const latencies: number[] = [];
        for (let i = 0; i < 20; i++) {
          const t = Date.now();
          await b.set('notes', 'hello', i, bob);
          await until(`change ${i}`, async () => changes().some((c) => c.key === 'hello' && c.value === i), Boolean, 2000);
          latencies.push(Date.now() - t);
        }
        const last = changes().at(-1)!;
        assert.deepEqual(
          [last.namespace, last.key, last.op, last.value, last.by.sessionId, last.previousValue],
          ['notes', 'hello', 'set', 19, bob.sessionId, 18],
        );
        assert.deepEqual(
          changes()
            .filter((c) => c.key === 'hello')
            .map((c) => c.version),
          Array.from({ length: 20 }, (_, i) => i + 1),
          'each change once, in order',
        );
        const before = events.length;
        const claim = await b.acquireClaim('task:notify', bob, 60_000);
        await until('a claims event', async () => events.slice(before).some((e) => e.event.kind === 'claims'), Boolean, 2000);
        await b.releaseClaim('task:notify', claim.fencingToken, bob);
        await b.sendControl({ action: 'endSession', sessionId: 'sess-9', requestedBy: 'a person' });
        const control = await until('a control event', async () => events.find((e) => e.event.kind === 'control'), Boolean, 2000);
        assert.deepEqual(
          control!.event.kind === 'control' && [
            control!.event.request.action,
            control!.event.request.sessionId,
            control!.event.request.requestedBy,
          ],
          ['endSession', 'sess-9', 'a person'],
        );
        await until('the sender gets its own control request too', async () => ownEvents.some((e) => e.kind === 'control'), Boolean, 2000);
        const summary = metrics.snapshot()['store.propagationMs'] as { count: number; p99: number };
        assert.ok(summary.count >= 20, 'propagation is measured');
        console.log(
          `# [${backend.name}] propagation between instances: max ${Math.max(...latencies)} ms (write + notify + read), store.propagationMs p99 ${summary.p99} ms`,
        );
      },
    );

    test(
      name(
        'R-AGT-6',
        'inboxes: read-modify-write from two instances loses nothing, the other instance hears of each change as an inbox event, and no context tool reaches them',
      ),
      async () => {
        const project = newProject();
        const a = (await backend.open(project)).store;
        const b = (await backend.open(project)).store;
        const heard: string[] = [];
        a.onEvent((e) => {
          if (e.kind === 'inbox') heard.push(e.inbox);
          assert.ok(e.kind !== 'change' || !e.change.namespace.startsWith('_'), 'an inbox change is never a context change');
        });
        assert.equal(await a.readInbox('claude-code:bob'), undefined, 'an inbox nobody wrote reads as absent');
        const push = (c: { value: unknown } | undefined, item: number): number[] => [...((c?.value as number[] | undefined) ?? []), item];
        await Promise.all(
          Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).updateInbox('claude-code:bob', (c) => push(c, i), i % 2 ? alice : bob)),
        );
        const inbox = await a.readInbox('claude-code:bob');
        assert.deepEqual(
          [...(inbox?.value as number[])].sort((x, y) => x - y),
          Array.from({ length: 20 }, (_, i) => i),
          'every message kept',
        );
        await until(
          'inbox events from the other instance',
          async () => heard.filter((h) => h === 'claude-code:bob').length,
          (n) => n >= 1,
          2000,
        );
        assert.deepEqual(await a.namespaces(), [], 'inboxes are not a namespace an agent can list');
        await assert.rejects(a.get('_messages', 'claude-code:bob'), refusedWith('InvalidArgument', /Namespace/));
        await assert.rejects(a.set('_messages', 'claude-code:bob', [], alice), refusedWith('InvalidArgument', /Namespace/));
        assert.deepEqual((await a.history({})).records, [], 'nor a history an agent can read');
      },
    );

    test(
      name(
        'R-AGT-6, R-CLM-2',
        "claim transfer: only the holder, with the current token; the recipient holds it under a larger token and the old one is dead; a third holder's overlap refuses it",
      ),
      async () => {
        const project = newProject();
        const { store } = await backend.open(project);
        const carol: Actor = { sessionId: 's-carol', clientName: 'Agent Carol', participantId: 'p-3' };
        const held = await store.acquireClaim('src/api', alice, 60_000);
        await assert.rejects(
          store.transferClaim('src/api', held.fencingToken, bob, 60_000, bob),
          refusedWith('ClaimNotHeld', /not by you/),
          'only the holder hands it on',
        );
        await assert.rejects(store.transferClaim('src/api', held.fencingToken + 7, bob, 60_000, alice), refusedWith('ClaimNotHeld'));
        const moved = await store.transferClaim('src/api', held.fencingToken, bob, 60_000, alice);
        assert.equal(moved.holder.sessionId, bob.sessionId);
        assert.ok(moved.fencingToken > held.fencingToken, `a larger token: ${held.fencingToken} -> ${moved.fencingToken}`);
        const [listed] = await store.listClaims('src/api');
        assert.deepEqual([listed?.holder.sessionId, listed?.fencingToken], [bob.sessionId, moved.fencingToken]);
        await assert.rejects(
          store.releaseClaim('src/api', held.fencingToken, alice),
          refusedWith('StaleFencingToken'),
          'the old grant is dead',
        );
        await assert.rejects(
          store.acquireClaim('src/api/x.ts', alice, 60_000),
          refusedWith('ClaimConflict', /Agent Bob/),
          "the recipient's claim blocks the old holder",
        );
        // Bob holds lib/b.ts and the folder lib: handing the folder to Alice would make two holders overlap.
        await store.acquireClaim('lib/b.ts', bob, 60_000);
        const folder = await store.acquireClaim('lib', bob, 60_000);
        await assert.rejects(
          store.transferClaim('lib', folder.fencingToken, alice, 60_000, bob),
          refusedWith('ClaimConflict', /lib\/b\.ts/),
        );
        assert.equal(
          (await store.listClaims('lib')).find((c) => c.resource === 'lib')?.holder.sessionId,
          bob.sessionId,
          'a refused transfer changes nothing',
        );
        // A third holder's claim inside the folder refuses it too (the recipient is not the third holder).
        const task = await store.acquireClaim('task:deploy', carol, 60_000);
        assert.equal(
          (await store.transferClaim('task:deploy', task.fencingToken, bob, 60_000, carol)).holder.sessionId,
          bob.sessionId,
          'a task moves like a file',
        );
      },
    );

    test(
      name(
        'R-CLM-5, R-CLM-1',
        'claims across git worktrees: the same file in two checkouts is refused, granted with the other named (warn), or ignored (off); each checkout renews, releases and is revoked apart',
      ),
      async () => {
        const { store } = await backend.open(newProject());
        const inMain: Actor = { ...alice, checkout: '/repo/main', worktree: 'main (branch main)' };
        const inFeature: Actor = { ...bob, checkout: '/repo/feature', worktree: 'feature (branch feature)' };
        const mine = await store.acquireClaim('src/a.ts', inMain, 60_000, { acrossWorktrees: 'warn' });
        assert.equal(mine.checkout, '/repo/main');
        assert.equal(mine.elsewhere, undefined);
        await assert.rejects(
          store.acquireClaim('src/a.ts', inFeature, 60_000, { acrossWorktrees: 'refuse' }),
          refusedWith('ClaimConflict', /in worktree main \(branch main\)/),
        );
        await assert.rejects(
          store.acquireClaim('src', { ...bob, checkout: '/repo/main' }, 60_000, { acrossWorktrees: 'off' }),
          refusedWith('ClaimConflict'),
          'the same checkout conflicts whatever the setting',
        );
        const warned = await store.acquireClaim('src', inFeature, 60_000, { acrossWorktrees: 'warn' });
        assert.deepEqual(
          warned.elsewhere?.map((c) => [c.resource, c.checkout, c.holder.sessionId]),
          [['src/a.ts', '/repo/main', alice.sessionId]],
          "granted, naming the other worktree's claim",
        );
        const quiet = await store.acquireClaim('src/b.ts', { ...carolOf(), checkout: '/repo/other' }, 60_000, { acrossWorktrees: 'off' });
        assert.equal(quiet.elsewhere, undefined);
        const all = await store.listClaims();
        assert.deepEqual(all.map((c) => [c.resource, c.checkout]).sort(), [
          ['src', '/repo/feature'],
          ['src/a.ts', '/repo/main'],
          ['src/b.ts', '/repo/other'],
        ]);
        const renewed = await store.renewClaim('src/a.ts', mine.fencingToken, 120_000, inMain);
        assert.equal(renewed.checkout, '/repo/main');
        await store.releaseClaim('src', warned.fencingToken, inFeature);
        await store.revokeClaim('src/b.ts', quiet.fencingToken, bob, '/repo/other');
        assert.deepEqual(
          (await store.listClaims()).map((c) => [c.resource, c.checkout]),
          [['src/a.ts', '/repo/main']],
        );
        await assert.rejects(
          store.transferClaim('src/a.ts', renewed.fencingToken, inFeature, 60_000, inMain),
          refusedWith('InvalidArgument', /moves within one worktree/),
        );
        assert.equal(await store.releaseClaimsOf({ sessionId: alice.sessionId }), 1);
      },
    );

    test(name('R-CTX-3', '4 processes x 50 compare-and-set increments (and 4 x 50 updates) on one key end at exactly 200'), async () => {
      const project = newProject();
      const started = Date.now();
      const cas = await Promise.all(
        Array.from(
          { length: 4 },
          (_, i) =>
            startContractWorker({
              backend: backend.worker(project),
              mode: 'cas',
              prefix: `cas${i}`,
              count: 50,
              namespace: 'counters',
              key: 'cas',
            }).result,
        ),
      );
      const casMs = Date.now() - started;
      const updates = await Promise.all(
        Array.from(
          { length: 4 },
          (_, i) =>
            startContractWorker({
              backend: backend.worker(project),
              mode: 'update',
              prefix: `upd${i}`,
              count: 50,
              namespace: 'counters',
              key: 'upd',
            }).result,
        ),
      );
      const { store } = await backend.open(project);
      const c = await store.get('counters', 'cas');
      const u = await store.get('counters', 'upd');
      assert.deepEqual([c?.value, c?.version], [200, 200], 'every CAS increment applied exactly once');
      assert.deepEqual([u?.value, u?.version], [200, 200], 'every update applied exactly once');
      assert.ok(updates.every((r) => r?.done));
      console.log(
        `# [${backend.name}] 4 x 50 CAS increments in ${casMs} ms, ${cas.reduce((n, r) => n + (r?.conflicts ?? 0), 0)} conflicts retried`,
      );
    });

    test(
      name(
        'R-CTX-3 (issue 11)',
        '4 processes x 50 increment() calls on one counter end at exactly 200 with no retry; a value that is not a whole number is refused and kept',
      ),
      async () => {
        const project = newProject();
        const results = await Promise.all(
          Array.from(
            { length: 4 },
            (_, i) =>
              startContractWorker({
                backend: backend.worker(project),
                mode: 'incr',
                prefix: `inc${i}`,
                count: 50,
                namespace: 'counters',
                key: 'n',
              }).result,
          ),
        );
        assert.ok(results.every((r) => r?.done));
        const { store } = await backend.open(project);
        const n = await store.get('counters', 'n');
        assert.deepEqual([n?.value, n?.version], [200, 200], 'every increment applied exactly once, one version each');
        const down = await store.increment('counters', 'n', -250, alice);
        assert.deepEqual([down.value, down.version], [-50, 201], 'a negative step subtracts, below zero too');
        await store.set('counters', 'text', 'seven', alice);
        for (const bad of [
          { key: 'text', delta: 1 },
          { key: 'n', delta: 0.5 },
          { key: 'n', delta: 2 ** 53 },
        ]) {
          await assert.rejects(store.increment('counters', bad.key, bad.delta, alice), refusedWith('InvalidArgument'));
        }
        await store.set('counters', 'big', Number.MAX_SAFE_INTEGER, alice);
        await assert.rejects(store.increment('counters', 'big', 1, alice), refusedWith('InvalidArgument', /range of exact whole numbers/));
        assert.equal((await store.get('counters', 'text'))?.value, 'seven', 'a refused increment writes nothing');
        assert.equal((await store.get('counters', 'n'))?.version, 201);
        await assert.rejects(
          store.increment('counters', 'text', 1, alice),
          refusedWith('InvalidArgument', /holds "seven", not a whole number/),
        );
      },
    );

    const ROUNDS = 250;
    test(
      name(
        'R-CLM-1, R-CLM-2',
        `a claim raced by two processes ${ROUNDS} times: exactly one winner per round, fencing tokens strictly increasing`,
      ),
      async () => {
        const project = newProject();
        const racers = ['racer-a', 'racer-b'].map((prefix) =>
          startContractWorker({ backend: backend.worker(project), mode: 'race', prefix, resource: 'task:race' }),
        );
        cleanup.push(() => Promise.all(racers.map((r) => stopChild(r.child, 'SIGKILL'))));
        for (const r of racers) assert.equal(await r.nextLine(), 'ready');
        const tokens: number[] = [];
        const wins = [0, 0];
        const started = Date.now();
        for (let round = 0; round < ROUNDS; round++) {
          for (const r of racers) r.send('go');
          const answers = await Promise.all(racers.map((r) => r.nextLine()));
          const winners = answers.map((a, i) => (a.startsWith('won ') ? i : -1)).filter((i) => i >= 0);
          assert.equal(winners.length, 1, `round ${round}: exactly one winner: ${answers.join(' | ')}`);
          const w = winners[0]!;
          assert.match(
            answers[1 - w]!,
            new RegExp(`^lost ClaimConflict .*racer-${w ? 'b' : 'a'}`),
            `round ${round}: the loser is told who holds it`,
          );
          const token = Number(answers[w]!.slice(4));
          if (tokens.length) assert.ok(token > tokens.at(-1)!, `round ${round}: token ${token} after ${tokens.at(-1)}`);
          tokens.push(token);
          wins[w]!++;
          racers[w]!.send(`release ${token}`);
          assert.equal(await racers[w]!.nextLine(), 'released');
        }
        for (const r of racers) r.send('quit');
        await Promise.all(racers.map((r) => r.result));
        const ms = Date.now() - started;
        console.log(
          `# [${backend.name}] claim race: ${ROUNDS} rounds in ${ms} ms; wins a=${wins[0]} b=${wins[1]}; tokens ${tokens[0]}..${tokens.at(-1)}`,
        );
        assert.equal(new Set(tokens).size, ROUNDS);
        assert.ok(wins[0]! > 0 && wins[1]! > 0, 'both processes won some rounds: the race was real');
      },
    );

    test(
      name('R-CTX-7, R-CLM-3', 'a holder process killed with SIGKILL is gone and its claim is free within the presence bound'),
      async () => {
        const project = newProject();
        const { store } = await backend.open(project);
        const holder = startContractWorker({ backend: backend.worker(project), mode: 'hold', prefix: 'doomed', resource: 'src/held.ts' });
        cleanup.push(() => stopChild(holder.child, 'SIGKILL'));
        const [word, , participantId] = (await holder.nextLine()).split(' ');
        assert.equal(word, 'held');
        await until(
          'the holder is a participant',
          () => store.participants(),
          (ps) => ps.some((p) => p.participantId === participantId),
        );
        await assert.rejects(store.acquireClaim('src/held.ts', alice, 60_000), refusedWith('ClaimConflict', /doomed/));
        await stopChild(holder.child, 'SIGKILL');
        const killedAt = Date.now();
        let freedMs = -1;
        while (Date.now() - killedAt < 10_000) {
          try {
            await store.acquireClaim('src/held.ts', alice, 60_000);
            freedMs = Date.now() - killedAt;
            break;
          } catch (e) {
            assert.ok(isCoordinatorError(e, 'ClaimConflict'), String(e));
            await sleep(50);
          }
        }
        console.log(`# [${backend.name}] kill -9 of a holder -> claim free after ${freedMs} ms`);
        assert.ok(freedMs >= 0 && freedMs < 5000, `freed after ${freedMs} ms; the presence bound is 3 s`);
        assert.equal(
          (await store.participants()).some((p) => p.participantId === participantId),
          false,
          'the killed process is no longer a participant',
        );
      },
    );
  });
}
