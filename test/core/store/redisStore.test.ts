import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { isCoordinatorError } from '../../../src/core/errors.js';
import { silentLogger } from '../../../src/core/logging/logger.js';
import { Metrics } from '../../../src/core/metrics/metrics.js';
import { openSharedStore } from '../../../src/core/store/openSharedStore.js';
import { selectStoreUrl } from '../../../src/core/store/storeEnv.js';
import { normalizeOriginUrl, projectIdFor } from '../../../src/core/store/redis/projectId.js';
import { RedisStore, type RedisStoreOptions } from '../../../src/core/store/redis/redisStore.js';
import { connectionOptions, parseRedisUrl, redactRedisUrl } from '../../../src/core/store/redis/redisUrl.js';
import type { Actor } from '../../../src/core/store/actors.js';
import type { ChangeEvent, SharedStore } from '../../../src/core/store/sharedStore.js';
import { startRedisServer, type RedisServer } from '../../support/redisServer.js';
import { tempDir } from '../../support/workspace.js';

/** What only the Redis backend has: URLs, project ids, and Redis going away and coming back. */

const cleanup: Array<() => Promise<unknown>> = [];
let server: RedisServer;
before(async () => {
  server = await startRedisServer();
});
after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
  await server?.remove();
});

const by: Actor = { sessionId: 's1', clientName: 'tester', participantId: 'p1' };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function folder(): string {
  const t = tempDir();
  cleanup.push(t.remove);
  return t.path;
}

async function open(
  projectId: string,
  options: Partial<RedisStoreOptions> = {},
  url = server.url,
): Promise<{ store: RedisStore; metrics: Metrics }> {
  const metrics = new Metrics();
  const store = await RedisStore.open({
    url,
    projectId,
    participant: { kind: 'headless', label: 'redis-test' },
    metrics,
    logger: silentLogger,
    options,
  });
  cleanup.push(() => store.dispose());
  return { store, metrics };
}

const project = (): string => `redis-test-${randomBytes(6).toString('hex')}`;

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await sleep(20);
  }
  return Date.now() - started;
}

test('R-CTX-9: store URLs redis://[:password@]host:port/db and rediss:// (TLS); the password never shows; anything else is refused', async () => {
  assert.deepEqual(parseRedisUrl('redis://:s3cret@cache.example:6380/2'), {
    tls: false,
    host: 'cache.example',
    port: 6380,
    db: 2,
    password: 's3cret',
  });
  assert.deepEqual(parseRedisUrl('rediss://team:p%40ss@cache.example'), {
    tls: true,
    host: 'cache.example',
    port: 6379,
    db: 0,
    username: 'team',
    password: 'p@ss',
  });
  assert.deepEqual(parseRedisUrl('redis://[::1]:7000/1'), { tls: false, host: '::1', port: 7000, db: 1 });
  assert.deepEqual(connectionOptions(parseRedisUrl('rediss://h:1/0')).tls, { servername: 'h' });
  assert.equal(
    connectionOptions(parseRedisUrl('redis://:from-url@h/0'), 'from-secret-storage').password,
    'from-secret-storage',
    'a separately kept secret wins',
  );
  assert.equal(redactRedisUrl('redis://user:s3cret@h:1/0'), 'redis://h:1/0');
  for (const bad of ['http://h:1/0', 'redis://h:1/abc', 'not a url', 'redis://:s3cret@h:1/x']) {
    assert.throws(
      () => parseRedisUrl(bad),
      (e: unknown) => isCoordinatorError(e, 'InvalidArgument') && !e.message.includes('s3cret'),
      bad,
    );
  }
  assert.equal(
    selectStoreUrl(undefined, ' ', 'redis://h/0', 'redis://other/0'),
    'redis://h/0',
    '--store, then the environment, then the setting',
  );
  assert.equal(selectStoreUrl(undefined, ''), undefined);
  const root = folder();
  const deps = { projectRoot: root, participant: { kind: 'headless' as const, label: 't' }, metrics: new Metrics(), logger: silentLogger };
  await assert.rejects(openSharedStore({ url: 'memcached://h:1' }, deps), (e: unknown) => isCoordinatorError(e, 'InvalidArgument'));
  const file = await openSharedStore({}, deps);
  cleanup.push(() => Promise.resolve(file.dispose()));
  assert.equal((await file.status()).kind, 'file', 'no URL: the file store in the workspace');
  const { store } = await open(project(), {}, server.url.replace('redis://', 'redis://:wrong-password-not-shown@'));
  const status = await store.status();
  assert.equal(status.location.includes('wrong-password-not-shown'), false, status.location);
});

test('R-CTX-9: the project id comes from the origin URL (no credentials, no .git, lowercase host), else from the folder; status shows it', async () => {
  const forms = [
    'git@GitHub.com:Acme/Widgets.git',
    'https://user:ghp_token@github.com/Acme/Widgets.git',
    'ssh://git@github.com:22/Acme/Widgets.git/',
    'https://GITHUB.COM/Acme/Widgets',
  ];
  for (const f of forms) assert.equal(normalizeOriginUrl(f), 'github.com/Acme/Widgets', f);
  assert.equal(normalizeOriginUrl('/srv/git/widgets.git'), 'local:srv/git/widgets');

  const gitRepo = (origin?: string): string => {
    const dir = folder();
    mkdirSync(path.join(dir, '.git'));
    writeFileSync(
      path.join(dir, '.git', 'config'),
      `[core]\n\tbare = false\n${origin ? `[remote "upstream"]\n\turl = https://example.com/other.git\n[remote "origin"]\n\turl = ${origin}\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n` : ''}`,
    );
    return dir;
  };
  const laptop = gitRepo('git@github.com:Acme/Widgets.git');
  const devBox = gitRepo('https://ci:secret@github.com/Acme/Widgets');
  assert.equal(await projectIdFor(laptop), 'github.com/Acme/Widgets');
  assert.equal(await projectIdFor(devBox), 'github.com/Acme/Widgets', 'two clones in different folders: one project');
  mkdirSync(path.join(laptop, 'packages', 'app'), { recursive: true });
  assert.equal(
    await projectIdFor(path.join(laptop, 'packages', 'app')),
    'github.com/Acme/Widgets:packages/app',
    'a folder inside the repository',
  );
  // A linked worktree: .git is a file pointing at <repo>/.git/worktrees/<name>, whose commondir leads back.
  const worktree = folder();
  mkdirSync(path.join(laptop, '.git', 'worktrees', 'wt'), { recursive: true });
  writeFileSync(path.join(laptop, '.git', 'worktrees', 'wt', 'commondir'), '../..\n');
  writeFileSync(path.join(worktree, '.git'), `gitdir: ${path.join(laptop, '.git', 'worktrees', 'wt')}\n`);
  assert.equal(await projectIdFor(worktree), 'github.com/Acme/Widgets');

  const plainA = folder();
  const noOrigin = gitRepo();
  const idA = await projectIdFor(plainA);
  assert.match(idA, /^dir-sc-test-[A-Za-z0-9]+-[0-9a-f]{16}$/);
  assert.equal(await projectIdFor(plainA), idA, 'stable');
  assert.notEqual(await projectIdFor(noOrigin), idA, 'another folder, another project');

  // Two "machines": different folders, the same origin, so the same data.
  const deps = (root: string): Parameters<typeof openSharedStore>[1] => ({
    projectRoot: root,
    participant: { kind: 'headless', label: root },
    metrics: new Metrics(),
    logger: silentLogger,
  });
  const suffix = randomBytes(4).toString('hex');
  const one = gitRepo(`git@github.com:Acme/Widgets-${suffix}.git`);
  const two = gitRepo(`https://github.com/acme-mirror-not/Widgets-${suffix}`);
  const three = gitRepo(`https://token@GITHUB.com/Acme/Widgets-${suffix}.git`);
  const a = await openSharedStore({ url: server.url }, deps(one));
  const b = await openSharedStore({ url: server.url }, deps(two));
  const c = await openSharedStore({ url: server.url }, deps(three));
  cleanup.push(async () => Promise.all([a, b, c].map((s) => s.dispose())));
  await a.set('shared', 'k', 'from one', by);
  assert.equal((await c.get('shared', 'k'))?.value, 'from one', 'same origin: same project');
  assert.equal(await b.get('shared', 'k'), undefined, 'another repository: nothing shared');
  assert.equal((await c.status()).location, `${server.url} (project github.com/Acme/Widgets-${suffix})`);
});

test('R-CTX-9: the stores of two projects on one server see nothing of each other', async () => {
  const { store: a } = await open(project());
  const { store: b } = await open(project());
  await a.set('ns', 'k', 'a', by);
  await a.acquireClaim('src/x.ts', by, 60_000);
  assert.equal(await b.get('ns', 'k'), undefined);
  assert.deepEqual(await b.listClaims(), []);
  assert.deepEqual(await b.namespaces(), []);
  assert.equal((await b.acquireClaim('src/x.ts', { ...by, sessionId: 'other' }, 60_000)).fencingToken, 1);
  assert.deepEqual(
    (await b.participants()).map((p) => p.participantId),
    [b.participantId],
  );
});

test('R-CTX-7, R-CLM-3: a participant on another machine that stops heartbeating is gone when its presence key expires, and its claims are released', async () => {
  const id = project();
  const { store: survivor } = await open(id);
  // "Another machine": its presence key lives goneAfterMs; a sweeper here cannot test its pid.
  const { store: remote } = await open(id, { goneAfterMs: 600, heartbeatMs: 200 });
  const remoteActor = { sessionId: 'remote-session', clientName: 'remote agent', participantId: remote.participantId };
  await remote.acquireClaim('src/remote.ts', remoteActor, 3_600_000);
  const admin = new Redis(server.port, '127.0.0.1');
  cleanup.push(() => admin.quit());
  const entry = JSON.parse((await admin.get(`sc:{${id}}:presence:${remote.participantId}`))!) as Record<string, unknown>;
  const elsewhere = JSON.stringify({ ...entry, host: 'another-machine', pid: 1 });
  // Freeze it as a silent remote participant: no more heartbeats, an entry that claims another host.
  await (remote as unknown as { background: { dispose(): Promise<void> } }).background.dispose();
  await admin
    .multi()
    .set(`sc:{${id}}:presence:${remote.participantId}`, elsewhere, 'PX', 600)
    .hset(`sc:{${id}}:participants`, remote.participantId, elsewhere)
    .exec();
  assert.equal((await survivor.participants()).length, 2);
  const ms = await until('the remote claim is released', async () => (await survivor.listClaims('src/remote.ts')).length === 0, 5000);
  console.log(`# [redis] silent remote participant: claim released ${ms} ms after its last heartbeat (bound ${600} ms + one sweep)`);
  assert.deepEqual(
    (await survivor.participants()).map((p) => p.participantId),
    [survivor.participantId],
  );
});

test('R-CTX-6: no change is missed across subscriber reconnects: CLIENT KILL of the pub/sub connections while another instance writes', async () => {
  const id = project();
  const { store: reader, metrics } = await open(id);
  const { store: writer } = await open(id);
  const seen: ChangeEvent[] = [];
  reader.watchChanges('stream');
  reader.onEvent((e) => {
    if (e.kind === 'change') seen.push(e.change);
  });
  const admin = new Redis(server.port, '127.0.0.1');
  cleanup.push(() => admin.quit());
  let stop = false;
  let written = 0;
  const writes = (async () => {
    while (!stop || written < 300) await writer.set('stream', `k${written % 10}`, written++, by);
  })();
  const subscribers = async (): Promise<number> =>
    String(await admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub'))
      .split('\n')
      .filter(Boolean).length;
  let kills = 0;
  for (let k = 0; k < 5; k++) {
    await until('both subscribers are back', async () => (await subscribers()) >= 2, 5000);
    await sleep(10 + Math.random() * 20);
    kills += Number(await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub'));
  }
  stop = true;
  await writes;
  await until(`all ${written} changes`, () => seen.length >= written);
  await sleep(200);
  assert.ok(kills >= 10, `both pub/sub connections killed 5 times (${kills})`);
  assert.deepEqual(
    seen.map((c) => c.seq),
    Array.from({ length: written }, (_, i) => i + 1),
    'each change once, in order',
  );
  assert.deepEqual(
    seen.map((c) => c.value),
    Array.from({ length: written }, (_, i) => i),
  );
  console.log(
    `# [redis] subscribers killed ${kills} times during ${written} writes: ${metrics.snapshot()['store.redis.caughtUp']} changes caught up from the stream`,
  );
});

test("R-CTX-6 (issue 11): a context namespace's changes reach a participant only while it watches it, caught up from the stream when it starts; every namespace is one pattern that never matches another project", async () => {
  // A project id with glob characters: unescaped, its pattern would match the other project's channels.
  const rand = randomBytes(4).toString('hex');
  const id = `glob*[?]-${rand}`;
  const { store: reader, metrics } = await open(id);
  const { store: writer } = await open(id);
  const { store: stranger } = await open(`globXX[?]-${rand}`);
  const admin = new Redis(server.port, '127.0.0.1');
  cleanup.push(() => admin.quit());
  const subscribers = async (ns: string): Promise<number> =>
    Number(((await admin.call('PUBSUB', 'NUMSUB', `sc:{${id}}:events:${ns}`)) as [string, number])[1]);
  const heard = (): number => Number(metrics.snapshot()['store.redis.changesHeard'] ?? 0);
  const seen: ChangeEvent[] = [];
  reader.onEvent((e) => {
    if (e.kind === 'change') seen.push(e.change);
  });
  const inboxes: string[] = [];
  reader.onEvent((e) => e.kind === 'inbox' && inboxes.push(e.inbox));

  for (let i = 0; i < 30; i++) await writer.set('quiet', `k${i % 3}`, i, by);
  await writer.updateInbox('claude-code:bob', () => ['hi'], by);
  await until('the inbox change (always heard)', () => inboxes.length === 1, 3000);
  assert.equal(await subscribers('quiet'), 0, 'nobody subscribed to an unwatched namespace');
  assert.equal(seen.length, 0, 'no change of an unwatched namespace is delivered');
  const beforeWatch = heard();
  assert.equal(beforeWatch, 1, "the only change message heard was the inbox's");

  const watch = reader.watchChanges('quiet');
  await until('what was written before the watch, read from the stream', () => seen.length === 30, 3000);
  assert.equal(await subscribers('quiet'), 1);
  for (let i = 30; i < 40; i++) await writer.set('quiet', `k${i % 3}`, i, by);
  await until('live changes', () => seen.length === 40, 3000);
  assert.ok(heard() - beforeWatch >= 10, `the live ones came by pub/sub (${heard() - beforeWatch})`);
  assert.deepEqual(
    seen.map((c) => c.seq),
    Array.from({ length: 40 }, (_, i) => i + 1),
    'each change once, in order, across the catch-up and the live ones',
  );

  watch.dispose();
  await until('unsubscribed', async () => (await subscribers('quiet')) === 0, 3000);
  const afterUnwatch = heard();
  for (let i = 40; i < 45; i++) await writer.set('quiet', 'k0', i, by);
  await sleep(200);
  assert.equal(heard(), afterUnwatch, 'nothing heard once unwatched');
  assert.equal(seen.length, 40);

  const all = reader.watchChanges();
  await until('the pattern is subscribed', async () => Number(await admin.call('PUBSUB', 'NUMPAT')) >= 1, 3000);
  await until('the five written while unwatched', () => seen.length === 45, 3000);
  await writer.set('other', 'k', 1, by);
  await stranger.set('other', 'k', 'not ours', by);
  await until('a namespace never named, heard through the pattern', () => seen.some((c) => c.namespace === 'other'), 3000);
  await sleep(200);
  assert.deepEqual(
    seen.filter((c) => c.namespace === 'other').map((c) => c.value),
    [1],
    "the other project's change, whose channel the unescaped pattern would match, is not heard",
  );
  all.dispose();
});

test("R-CTX-1 (issue 11): update() of a key this participant wrote last is one round trip; after another's write, the conflict's answer is the retry's start, not a second read", async () => {
  const own = await startRedisServer();
  cleanup.push(() => own.remove());
  const id = project();
  const { store: a, metrics } = await open(id, {}, own.url);
  const { store: b } = await open(id, {}, own.url);
  const admin = new Redis(own.port, '127.0.0.1');
  cleanup.push(() => admin.quit());
  // The HGETs clients send (MONITOR names a script's own calls' source 'lua').
  let clientReads = 0;
  const monitor = await admin.monitor();
  cleanup.push(async () => monitor.disconnect());
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (String(args[0]).toLowerCase() === 'hget' && source !== 'lua') clientReads++;
  });
  const reads = async (): Promise<number> => {
    await admin.ping();
    await sleep(50);
    return clientReads;
  };
  const bump = (c: { value: unknown } | undefined): number => ((c?.value as number | undefined) ?? 0) + 1;
  const before = await reads();
  for (let i = 0; i < 10; i++) await a.update('ns', 'counter', bump, by);
  assert.equal(await reads(), before + 1, 'only the first update read the key');
  await b.set('ns', 'counter', 100, by);
  const retries = Number(metrics.snapshot()['store.writeRetries'] ?? 0);
  const done = await a.update('ns', 'counter', bump, by);
  assert.deepEqual([done.value, done.version], [101, 12], 'applied to what b wrote');
  assert.equal(Number(metrics.snapshot()['store.writeRetries'] ?? 0), retries + 1, 'one conflict');
  assert.equal(await reads(), before + 1, 'and no read: the conflict carried the entry');
  await b.delete('ns', 'counter', by);
  assert.equal((await a.update('ns', 'counter', bump, by)).value, 1, 'a key deleted meanwhile starts again from absent');
});

test('R-CTX-9: while Redis is down, reads and writes fail at once with StoreUnavailable, status and a metric say so; it comes back by itself', async () => {
  const own = await startRedisServer();
  cleanup.push(() => own.remove());
  const id = project();
  const { store: a, metrics } = await open(id, {}, own.url);
  const { store: b } = await open(id, {}, own.url);
  await a.set('ns', 'before', 1, by);
  assert.equal((await a.status()).degraded, false);
  const events: string[] = [];
  b.watchChanges('ns');
  b.onEvent((e) => events.push(e.kind === 'change' ? `change:${e.change.key}` : e.kind));
  await own.kill();
  // Both connections notice (a few ms apart): first the change notifications, then reads and writes.
  await until('the store notices', async () => /unreachable/.test((await a.status()).reason ?? ''), 5000);
  const started = performance.now();
  await assert.rejects(
    a.set('ns', 'during', 1, by),
    (e: unknown) => isCoordinatorError(e, 'StoreUnavailable') && /unreachable.*Nothing was written/s.test(e.message),
  );
  await assert.rejects(
    a.get('ns', 'before'),
    (e: unknown) => isCoordinatorError(e, 'StoreUnavailable') && /Nothing was read/.test(e.message),
  );
  await assert.rejects(a.acquireClaim('task:x', by, 1000), (e: unknown) => isCoordinatorError(e, 'StoreUnavailable'));
  await assert.rejects(
    a.update('ns', 'before', () => 2, by),
    (e: unknown) => isCoordinatorError(e, 'StoreUnavailable'),
  );
  assert.ok(performance.now() - started < 500, 'refused at once, not queued');
  const down = await a.status();
  assert.equal(down.degraded, true);
  assert.match(down.reason ?? '', /unreachable since .*reconnecting/);
  assert.equal(down.kind, 'redis');
  assert.deepEqual(
    down.namespaces.map((n) => n.name),
    ['ns'],
    'the last figures read',
  );
  assert.equal(metrics.snapshot()['store.redis.connected'], 0);
  assert.ok(Number(metrics.snapshot()['store.unavailable']) >= 4);
  assert.ok(Number(metrics.snapshot()['store.redis.disconnects']) >= 1);
  assert.ok(Array.isArray(await a.participants()), 'participants() answers from the last reading instead of failing the panel');
  const openedAt = Date.now();
  const { store: late } = await open(id, { connectWaitMs: 300 }, own.url);
  assert.ok(Date.now() - openedAt < 2000, 'opening while Redis is down does not hang');
  assert.equal(
    (await late.status()).degraded,
    true,
    'a store opened while Redis is down is degraded, not failed: it connects when Redis is back',
  );

  await own.restart();
  const backMs = await until(
    'the stores reconnect',
    async () => (await Promise.all([a, b, late].map((s) => s.status()))).every((s) => !s.degraded),
    10_000,
  );
  console.log(`# [redis] reconnected ${backMs} ms after redis-server was back`);
  assert.equal(metrics.snapshot()['store.redis.connected'], 1);
  assert.equal((await a.get('ns', 'before'))?.value, 1, 'the acknowledged write survived (appendfsync always)');
  assert.equal(await a.get('ns', 'during'), undefined, 'the refused write never landed');
  await a.set('ns', 'after', 1, by);
  await until('B hears of the write after the reconnect', () => events.includes('change:after'), 3000);
  assert.equal((await b.get('ns', 'after'))?.value, 1);
  assert.equal((await late.get('ns', 'before'))?.value, 1, 'the store opened while Redis was down works now');
  await until(
    'the late store is a participant',
    async () => (await a.participants()).some((p) => p.participantId === late.participantId),
    3000,
  );
});

test('R-CTX-4, R-CTX-9: redis-server SIGKILLed and restarted (appendfsync always) during a write loop: every acknowledged write is present, and the stores reconnect without a restart', async () => {
  const own = await startRedisServer();
  cleanup.push(() => own.remove());
  const id = project();
  const stores: SharedStore[] = [];
  for (let i = 0; i < 3; i++) stores.push((await open(id, {}, own.url)).store);
  const acked = new Set<string>();
  const refusals = new Map<string, number>();
  let stop = false;
  const loops = stores.map(async (store, w) => {
    for (let i = 0; !stop; i++) {
      const key = `w${w}-${i}`;
      try {
        await store.set('loop', key, { i, w }, { ...by, sessionId: `writer-${w}` });
        acked.add(key);
      } catch (e) {
        assert.ok(isCoordinatorError(e, 'StoreUnavailable'), `only StoreUnavailable while Redis is away: ${String(e)}`);
        refusals.set(
          e.message.includes('did not confirm') ? 'outcome unknown' : 'refused at once',
          (refusals.get(e.message.includes('did not confirm') ? 'outcome unknown' : 'refused at once') ?? 0) + 1,
        );
        await sleep(5);
      }
    }
  });
  const kills = 3;
  for (let k = 0; k < kills; k++) {
    await sleep(300);
    await own.kill();
    await sleep(200);
    await own.restart();
  }
  const ackedBeforeEnd = acked.size;
  await until('writes are acknowledged again after the last restart', () => acked.size > ackedBeforeEnd + 30, 10_000);
  stop = true;
  await Promise.all(loops);
  const check = await open(id, {}, own.url);
  const present = new Set((await check.store.list('loop')).map((e) => e.key));
  const lost = [...acked].filter((k) => !present.has(k));
  console.log(
    `# [redis] ${kills} SIGKILLs of redis-server: ${acked.size} acknowledged writes, ${lost.length} lost; ${JSON.stringify(Object.fromEntries(refusals))}`,
  );
  assert.ok(acked.size > 50, `enough writes were acknowledged to mean something (${acked.size})`);
  assert.deepEqual(lost, [], 'no acknowledged write is lost');
  const settled = await until(
    'every store reconnected by itself, its change notifications too',
    async () => (await Promise.all(stores.map((s) => s.status()))).every((s) => !s.degraded),
    5000,
  );
  console.log(`# [redis] all stores fully resynced ${settled} ms after the writes resumed`);
  const history = await check.store.history({ namespace: 'loop', limit: 1000 });
  assert.deepEqual(
    history.records.map((r) => r.seq),
    Array.from({ length: history.records.length }, (_, i) => i + 1),
    'the event log has no hole',
  );
});
