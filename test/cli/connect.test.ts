import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { runCliWith } from '../support/cliProcesses.js';
import { httpClient, whoami } from '../support/mcpClients.js';
import { CLI, cliEnv, startServe } from '../support/processes.js';
import { workspaceAndHome } from '../support/workspace.js';

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

const folders = (): { ws: string; home: string } => workspaceAndHome(cleanup);

async function connectClient(
  ws: string,
  home: string,
  name = 'stdio-only-agent',
  options: { args?: string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<{ client: Client; transport: StdioClientTransport }> {
  const client = new Client({ name, version: '1' });
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'connect', '--workspace', ws, ...(options.args ?? [])],
    env: JSON.parse(JSON.stringify(options.env ?? cliEnv(home))) as Record<string, string>,
    stderr: 'pipe',
  });
  await client.connect(transport);
  return { client, transport };
}

test("R-CLI-2: connect --home relays to the participant live in that install whatever the agent's environment says; without it, it serves in-process", async () => {
  const { ws, home } = folders();
  const server = await startServe(ws, home);
  cleanup.push(() => server.stop());
  // An agent started outside the demo window's environment (no SESSION_COORDINATOR_HOME, a HOME of its own).
  const env = cliEnv(home, { SESSION_COORDINATOR_HOME: undefined, XDG_STATE_HOME: undefined, HOME: folders().home });
  const lost = await connectClient(ws, home, 'no-home', { env });
  const alone = (await whoami(lost.client)) as unknown as { pid: number; participants: Array<{ pid: number; label: string }> };
  assert.notEqual(alone.pid, server.child.pid, 'without --home it cannot find the participant');
  // It says what it is in the panel and in whoami: not a serve someone started.
  assert.equal(alone.participants.find((p) => p.pid === alone.pid)?.label, 'session-coordinator connect (in-process)');
  await lost.client.close();
  const found = await connectClient(ws, home, 'with-home', { env, args: ['--home', home] });
  const me = await whoami(found.client);
  assert.equal(me.pid, server.child.pid, 'with --home the session lives in the serve process');
  assert.equal(me.transport, 'relay');
  await found.client.close();
});

test('R-CLI-2: a script that writes its requests and closes stdin gets every answer, relayed or in-process, and no error on stderr', async () => {
  const lines = [
    {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'script', version: '1' } },
    },
    { jsonrpc: '2.0', method: 'notifications/initialized' },
    { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'whoami', arguments: {} } },
  ];
  const stdin = lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
  const answers = (stdout: string): number[] =>
    stdout
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => (JSON.parse(l) as { id: number; result?: unknown }).id);
  // In-process (no participant live), then relayed to a live one: the relay must not send whoami before the
  // session exists upstream (it had no session id yet: 400), nor drop it when stdin ends.
  const { ws, home } = folders();
  const alone = await runCliWith(['connect', '--workspace', ws], cliEnv(home), { stdin, timeoutMs: 15_000 });
  assert.deepEqual(answers(alone.stdout), [1, 2], `in-process: ${alone.stderr}`);
  const server = await startServe(ws, home);
  cleanup.push(() => server.stop());
  const relayed = await runCliWith(['connect', '--workspace', ws], cliEnv(home), { stdin, timeoutMs: 15_000 });
  assert.equal(relayed.code, 0, relayed.stderr);
  assert.deepEqual(answers(relayed.stdout), [1, 2], `relayed: ${relayed.stderr}`);
  assert.doesNotMatch(relayed.stderr, /\[(warn|error)\]/, 'a normal end is not an error');
});

test('R-CLI-2: connect relays to the live participant of the workspace, found through its discovery file', async () => {
  const { ws, home } = folders();
  const server = await startServe(ws, home);
  cleanup.push(() => server.stop());
  const agent = await connectClient(ws, home);
  const me = await whoami(agent.client);
  assert.equal(me.pid, server.child.pid, 'the session lives in the serve process');
  assert.equal(me.transport, 'relay');
  assert.equal(me.client.name, 'stdio-only-agent');
  // Shared with everyone on that participant.
  await agent.client.callTool({ name: 'context_set', arguments: { namespace: 'notes', key: 'from-stdio', value: 'hello' } });
  const viaHttp = await httpClient(server.url, 'http-agent');
  const got = await viaHttp.client.callTool({ name: 'context_get', arguments: { namespace: 'notes', key: 'from-stdio' } });
  assert.equal((got.structuredContent as { value: string }).value, 'hello');
  // Notifications come back through the relay.
  await agent.client.subscribeResource({ uri: 'context://notes' });
  const updated = new Promise<string>((resolve) =>
    agent.client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => resolve(n.params.uri)),
  );
  await viaHttp.client.callTool({ name: 'context_set', arguments: { namespace: 'notes', key: 'from-http', value: 1 } });
  assert.equal(await Promise.race([updated, new Promise((r) => setTimeout(() => r('timeout'), 3000))]), 'context://notes');
  // The agent leaves: its session ends on the participant at once, not at the TTL.
  await agent.client.close();
  let peers = (await whoami(viaHttp.client)).peers;
  for (let i = 0; i < 50 && peers.some((p) => p.sessionId === me.sessionId); i++) {
    await new Promise((r) => setTimeout(r, 20));
    peers = (await whoami(viaHttp.client)).peers;
  }
  assert.equal(
    peers.some((p) => p.sessionId === me.sessionId),
    false,
  );
  await viaHttp.client.close();
});

test('R-CLI-2: with no live participant, connect runs its own and still shares the workspace store', async () => {
  const { ws, home } = folders();
  const first = await connectClient(ws, home, 'alone');
  const me = await whoami(first.client);
  assert.equal(me.pid, first.transport.pid, 'served in the connect process itself');
  assert.equal(me.transport, 'stdio');
  await first.client.callTool({ name: 'context_set', arguments: { namespace: 'notes', key: 'k', value: 42 } });
  await first.client.close();
  const server = await startServe(ws, home);
  cleanup.push(() => server.stop());
  const later = await httpClient(server.url);
  const got = await later.client.callTool({ name: 'context_get', arguments: { namespace: 'notes', key: 'k' } });
  assert.equal((got.structuredContent as { value: number }).value, 42, 'written to the workspace store, not to memory');
  await later.client.close();
});
