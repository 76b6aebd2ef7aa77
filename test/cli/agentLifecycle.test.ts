import assert from 'node:assert/strict';
import * as http from 'node:http';
import { after, test } from 'node:test';
import { killableHttpAgent, msUntilGranted, relayAgent } from '../support/agentExit.js';
import { httpClient, whoami } from '../support/mcpClients.js';
import { startServe, TOKEN, type ServeHandle } from '../support/processes.js';
import { ACCEPT, initializeBody } from '../support/rawHttp.js';
import { RELAY_HEADER } from '../../src/core/mcp/httpEndpoint.js';
import { tempDir } from '../support/workspace.js';

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

const GRACE_S = 1;
let shared: { ws: string; home: string; server: ServeHandle } | undefined;

/** One headless participant for the file, with a short grace so the HTTP case stays quick. */
async function participant(): Promise<{ ws: string; home: string; server: ServeHandle }> {
  if (shared) return shared;
  const ws = tempDir();
  const home = tempDir();
  const server = await startServe(ws.path, home.path, ['--disconnect-grace', String(GRACE_S)]);
  cleanup.push(ws.remove, home.remove, () => server.stop());
  shared = { ws: ws.path, home: home.path, server };
  return shared;
}

async function sessionIds(url: string): Promise<string[]> {
  const watcher = await httpClient(url, 'watcher');
  try {
    return [(await whoami(watcher.client)).sessionId, ...(await whoami(watcher.client)).peers.map((p) => p.sessionId)];
  } finally {
    await watcher.transport.terminateSession();
    await watcher.client.close();
  }
}

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGKILL'] as const) {
  test(`R-AGT-1: a relayed agent's session ends and its claims are free within 1 s of ${signal}`, async () => {
    const { ws, home, server } = await participant();
    const resource = `docs/${signal}.md`;
    const agent = await relayAgent(ws, home, { CLAUDE_CODE_SESSION_ID: `agent-${signal}` });
    const me = await whoami(agent.client);
    assert.equal(me.transport, 'relay');
    const claim = await agent.client.callTool({ name: 'claim_acquire', arguments: { resource, ttlSeconds: 600 } });
    assert.equal(claim.isError, undefined, JSON.stringify(claim.content));
    const other = await httpClient(server.url, 'other-agent');
    cleanup.push(() => other.client.close());
    const refused = await other.client.callTool({ name: 'claim_acquire', arguments: { resource } });
    assert.equal(refused.isError, true, 'held while the agent lives');

    const killedAt = Date.now();
    process.kill(agent.pid, signal);
    const ms = await msUntilGranted(other.client, resource, killedAt, 5_000);
    console.log(`agent-exit-release ${signal} of the relay: claim free after ${ms} ms`);
    assert.ok(ms <= 1_000, `the claim was free after ${ms} ms, not within 1 s`);
    assert.equal((await sessionIds(server.url)).includes(me.sessionId), false, 'the session is gone');
    await other.transport.terminateSession();
  });
}

test('R-AGT-1: an HTTP client killed while holding its stream is disconnected, then ended after the grace; its claims go with it', async () => {
  const { server } = await participant();
  const resource = 'src/held-by-http.ts';
  const agent = await killableHttpAgent(server.url, resource);
  const other = await httpClient(server.url, 'other-agent');
  cleanup.push(() => other.client.close());
  const killedAt = Date.now();
  agent.child.kill('SIGKILL');
  // Within the grace it is disconnected, not gone: a client on a flaky network may come back.
  await new Promise((r) => setTimeout(r, 300));
  const during = (await whoami(other.client)).peers.find((p) => p.sessionId === agent.sessionId);
  assert.equal(during?.state, 'disconnected');
  const ms = await msUntilGranted(other.client, resource, killedAt, 10_000);
  console.log(`agent-exit-release SIGKILL of an HTTP client with a stream: claim free after ${ms} ms (grace ${GRACE_S} s)`);
  assert.ok(ms >= GRACE_S * 1000 - 50, `freed after ${ms} ms, before the grace ran out`);
  assert.ok(ms <= GRACE_S * 1000 + 1_000, `freed after ${ms} ms, not within grace + 1 s`);
  assert.equal((await sessionIds(server.url)).includes(agent.sessionId), false);
  await other.transport.terminateSession();
});

test('R-AGT-1: an HTTP client that drops its stream and comes back within the grace keeps its session and claims', async () => {
  const { server } = await participant();
  const a = await httpClient(server.url, 'flaky-agent');
  const me = await whoami(a.client);
  const claim = await a.client.callTool({ name: 'claim_acquire', arguments: { resource: 'src/flaky.ts' } });
  assert.equal(claim.isError, undefined);
  // Drop only the GET stream (what a network blip does), then speak again.
  const sessionId = a.transport.sessionId!;
  await a.client.close();
  await new Promise((r) => setTimeout(r, 300));
  const b = await httpClient(server.url, 'watcher');
  cleanup.push(() => b.client.close());
  assert.equal((await whoami(b.client)).peers.find((p) => p.sessionId === me.sessionId)?.state, 'disconnected');
  const again = await httpClient(server.url, 'flaky-agent');
  const resumed = await again.client.callTool({ name: 'session_resume', arguments: { resumeHandle: me.resumeHandle } });
  assert.equal(resumed.isError, undefined, JSON.stringify(resumed.content));
  await new Promise((r) => setTimeout(r, GRACE_S * 1000 + 500));
  const after = await whoami(again.client);
  assert.equal(after.sessionId, me.sessionId, 'the same session, back');
  assert.equal(after.state, 'active');
  const claims = await b.client.callTool({ name: 'claim_list', arguments: {} });
  assert.ok(
    (claims.structuredContent as { claims: Array<{ resource: string }> }).claims.some((c) => c.resource === 'src/flaky.ts'),
    'its claim survived the blip',
  );
  assert.notEqual(sessionId, again.transport.sessionId);
  await again.transport.terminateSession();
  await b.transport.terminateSession();
});

test('R-AGT-2: a relayed session knows its agent: whoami, peers and claim holders name it', async () => {
  const { ws, home, server } = await participant();
  const agent = await relayAgent(ws, home, { CLAUDE_CODE_SESSION_ID: '5283ce7e-1111-4222-8333-944445555666' }, 'claude-code');
  cleanup.push(() => agent.client.close());
  const me = (await whoami(agent.client)) as Awaited<ReturnType<typeof whoami>> & { agent?: { kind: string; sessionId: string } };
  assert.deepEqual(me.agent, { kind: 'claude-code', sessionId: '5283ce7e-1111-4222-8333-944445555666' });
  await agent.client.callTool({ name: 'claim_acquire', arguments: { resource: 'src/identity' } });
  const other = await httpClient(server.url, 'other');
  cleanup.push(() => other.client.close());
  const refused = await other.client.callTool({ name: 'claim_acquire', arguments: { resource: 'src/identity/a.ts' } });
  assert.equal(refused.isError, true);
  assert.match(JSON.stringify(refused.content), /claude-code session 5283ce7e…/, 'the refusal names the agent');
  const peer = (await whoami(other.client)).peers.find((p) => p.sessionId === me.sessionId) as { agent?: unknown } | undefined;
  assert.deepEqual(peer?.agent, me.agent);
  // A second connection of the same agent session is the same agent: never blocked by its own claim.
  const second = await relayAgent(ws, home, { CLAUDE_CODE_SESSION_ID: '5283ce7e-1111-4222-8333-944445555666' }, 'claude-code');
  cleanup.push(() => second.client.close());
  const mine = await second.client.callTool({ name: 'claim_acquire', arguments: { resource: 'src/identity/a.ts' } });
  assert.equal(mine.isError, undefined, JSON.stringify(mine.content));
  // A malformed agent header costs the agent its name, not its connection.
  const odd = await relayAgent(ws, home, { CLAUDE_CODE_SESSION_ID: 'bad id with spaces\u0007' }, 'odd');
  cleanup.push(() => odd.client.close());
  assert.equal(((await whoami(odd.client)) as { agent?: unknown }).agent, undefined);
});

for (const signal of ['SIGTERM', 'SIGHUP'] as const)
  test(`R-AGT-1: with no participant live, connect serves in-process and still frees its claims within 1 s of ${signal}`, async () => {
    const ws = tempDir();
    const home = tempDir();
    cleanup.push(ws.remove, home.remove);
    const first = await relayAgent(ws.path, home.path, { CLAUDE_CODE_SESSION_ID: 'alone-0001' }, 'alone');
    const me = (await whoami(first.client)) as Awaited<ReturnType<typeof whoami>> & { agent?: { kind: string } };
    assert.equal(me.transport, 'stdio', 'served in-process');
    assert.equal(me.agent?.kind, 'claude-code', 'the agent read from the environment');
    assert.equal(
      (await first.client.callTool({ name: 'claim_acquire', arguments: { resource: 'alone.ts', ttlSeconds: 600 } })).isError,
      undefined,
    );
    const second = await relayAgent(ws.path, home.path, {}, 'second');
    cleanup.push(() => second.client.close());
    const killedAt = Date.now();
    process.kill(first.pid, signal);
    const ms = await msUntilGranted(second.client, 'alone.ts', killedAt, 5_000);
    assert.ok(ms <= 1_000, `free after ${ms} ms`);
  });

test('R-AGT-1: a relay killed before its stream reached the participant still has its session ended (its socket closing says so)', async () => {
  const { server } = await participant();
  // A relay, as far as the participant can tell, whose GET stream never arrives: one keep-alive socket, then gone.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const headers = { 'Content-Type': 'application/json', Accept: ACCEPT, Authorization: `Bearer ${TOKEN}`, [RELAY_HEADER]: 'stdio' };
  const send = (
    body: unknown,
    extra: Record<string, string> = {},
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> =>
    new Promise((resolve, reject) => {
      const req = http.request(server.url, { method: 'POST', agent, headers: { ...headers, ...extra } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      });
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  const init = await send(initializeBody(1, 'early-killed-relay'));
  const id = String(init.headers['mcp-session-id']);
  const session = { 'mcp-session-id': id, 'mcp-protocol-version': '2025-06-18' };
  await send({ jsonrpc: '2.0', method: 'notifications/initialized' }, session);
  const claim = await send(
    {
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: { name: 'claim_acquire', arguments: { resource: 'src/early.ts', ttlSeconds: 600 } },
    },
    session,
  );
  assert.match(claim.text, /fencingToken/);
  const other = await httpClient(server.url, 'other-agent');
  cleanup.push(() => other.client.close());
  const killedAt = Date.now();
  agent.destroy();
  const ms = await msUntilGranted(other.client, 'src/early.ts', killedAt, 5_000);
  assert.ok(ms <= 1_000, `free after ${ms} ms`);
  await other.transport.terminateSession();
});
