import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { httpClient, whoami } from '../support/mcpClients.js';
import { runCli, startServe, cliEnv } from '../support/processes.js';
import { startRedisServer } from '../support/redisServer.js';
import { tempDir } from '../support/workspace.js';

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

test('R-CTX-9: two "machines" (different folders, one project id) share context and claims through serve --store redis://', async () => {
  const redis = await startRedisServer();
  cleanup.push(() => redis.stop());
  const laptop = tempDir('sc-laptop-');
  const devbox = tempDir('sc-devbox-');
  const home = tempDir();
  cleanup.push(laptop.remove, devbox.remove, home.remove);
  const env = { SESSION_COORDINATOR_PROJECT_ID: 'team-project' };
  const a = await startServe(laptop.path, home.path, ['--store', redis.url], env);
  const b = await startServe(devbox.path, home.path, [], { ...env, SESSION_COORDINATOR_STORE: redis.url });
  cleanup.push(
    () => a.stop(),
    () => b.stop(),
  );
  const onLaptop = await httpClient(a.url, 'laptop-agent');
  const onDevbox = await httpClient(b.url, 'devbox-agent');
  const me = await whoami(onLaptop.client);
  assert.equal((me as unknown as { store: { kind: string; location: string } }).store.kind, 'redis');
  assert.match((me as unknown as { store: { location: string } }).store.location, /project team-project/);
  await onLaptop.client.callTool({ name: 'context_set', arguments: { namespace: 'plan', key: 'step', value: 'migrate' } });
  const seen = await onDevbox.client.callTool({ name: 'context_get', arguments: { namespace: 'plan', key: 'step' } });
  assert.equal((seen.structuredContent as { value: string }).value, 'migrate');
  const claim = await onLaptop.client.callTool({ name: 'claim_acquire', arguments: { resource: 'src/db.ts' } });
  assert.equal(claim.isError, undefined);
  const refused = await onDevbox.client.callTool({ name: 'claim_acquire', arguments: { resource: 'src' } });
  assert.equal(refused.isError, true);
  assert.match(JSON.stringify(refused.content), /laptop-agent/);
  await onLaptop.client.close();
  await onDevbox.client.close();
});

test('R-CLI-4: --store with something that is not a Redis URL is bad usage (exit 2), and the password is not echoed', async () => {
  const home = tempDir();
  cleanup.push(home.remove);
  const r = await runCli(['serve', '--store', 'postgres://user:secret@db/x'], cliEnv(home.path));
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--store takes redis:\/\//);
  assert.doesNotMatch(r.stderr, /secret/);
});
