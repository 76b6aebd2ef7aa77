import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { runCliWith, waitFor } from '../../support/cliProcesses.js';
import { httpClient, whoami } from '../../support/mcpClients.js';
import { cliEnv, fetchStatus, startServe, TOKEN, type ServeHandle } from '../../support/processes.js';
import { initializeBody, post } from '../../support/rawHttp.js';
import { tempDir } from '../../support/workspace.js';

/**
 * What one agent holding the token can do to a `serve` shared with others
 * (R-SEC): every request bounded, every refusal leaving nothing behind.
 * A real `serve --http`, raw HTTP where the SDK client would not misbehave.
 */

const ws = tempDir();
const home = tempDir();
let server: ServeHandle;

before(async () => {
  server = await startServe(ws.path, home.path, ['--max-sessions', '50']);
});
after(async () => {
  await server.stop();
  await ws.remove();
  await home.remove();
});

/** A metric from /status; a counter nothing has incremented yet is 0, a gauge must be there. */
async function metric(name: string, of: ServeHandle = server): Promise<number> {
  const value = (await fetchStatus(of)).metrics[name];
  if (value === undefined && (name.startsWith('http.') || name.startsWith('sessions.')) && name !== 'http.sessions') return 0;
  assert.equal(typeof value, 'number', `no metric ${name} in /status`);
  return value as number;
}

function rssMb(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return kb / 1024;
}

test('R-SEC-1: thousands of initializes the SDK refuses (406, 415, a batch) leave no connection and no server behind', async () => {
  const pid = server.child.pid!;
  const connectionsBefore = await metric('mcp.connections');
  const sessionsBefore = await metric('http.sessions');
  const refusals: Array<[Record<string, string>, unknown, number]> = [
    [{ Accept: 'application/json' }, initializeBody(), 406],
    [{ 'Content-Type': 'text/plain' }, initializeBody(), 415],
    [{}, [initializeBody(1), initializeBody(2)], 400],
  ];
  const flood = async (count: number): Promise<void> => {
    for (let i = 0; i < count; i += 20) {
      await Promise.all(
        Array.from({ length: 20 }, async (_, j) => {
          const [headers, body, status] = refusals[(i + j) % 3]!;
          const res = await post(server.url, body, headers);
          assert.equal(res.status, status, res.text);
        }),
      );
    }
  };
  // Warm up first: the heap grows to its working size over the first ~1,500 requests, leak or not.
  await flood(1500);
  const rssBefore = rssMb(pid);
  const ROUNDS = 3000;
  const samples: number[] = [];
  for (let chunk = 0; chunk < 3; chunk++) {
    await flood(ROUNDS / 3);
    samples.push(rssMb(pid) - rssBefore);
  }
  assert.equal(await metric('mcp.connections'), connectionsBefore, 'every refused initialize closed its connection');
  assert.equal(await metric('http.sessions'), sessionsBefore);
  // Before the fix each refusal kept its McpServer: 3,000 of them grew the process by ~150 MB, a third of it per chunk.
  // A leak grows every sample; a garbage collection that comes late lifts one: the lower of the last two is the growth.
  const grown = Math.min(samples[1]!, samples[2]!);
  console.log(`serve's RSS after 1,000, 2,000 and 3,000 refused initializes: +${samples.map((g) => g.toFixed(1)).join(', +')} MB`);
  assert.ok(grown < 40, `serve grew by ${samples.map((g) => g.toFixed(1)).join(', ')} MB over ${ROUNDS} refused initializes`);
  // And a well-behaved agent still gets in.
  const ok = await post(server.url, initializeBody(1, 'after-the-flood'));
  assert.equal(ok.status, 200, ok.text);
  assert.ok(ok.headers.get('mcp-session-id'), 'a session id for the good client');
});

test('R-SEC-6: a client name cannot forge a log line, and is kept and shown capped at 128 characters without control characters', async () => {
  const forged = 'evil\n2026-01-01T00:00:00.000Z [error] the coordinator was compromised\u001b[2J\u202e';
  const forger = await httpClient(server.url, forged);
  const huge = await httpClient(server.url, 'x'.repeat(100_000));
  try {
    const me = await whoami(forger.client);
    assert.doesNotMatch(me.client.name, /[\u0000-\u001f\u007f-\u009f\u202e]/, 'no control characters kept');
    assert.match(me.client.name, /^evil\uFFFD2026-01-01T00:00:00\.000Z \[error\] the coordinator was compromised/);
    const big = await whoami(huge.client);
    assert.equal([...big.client.name].length, 128);
    assert.ok(big.client.name.endsWith('…'));
    await waitFor(() => server.stderr().includes(me.sessionId), "the session's log line", 5000);
    const lines = server.stderr().split('\n');
    assert.ok(!lines.some((l) => l.startsWith('2026-01-01T00:00:00.000Z')), 'no log line was forged');
    assert.ok(!server.stderr().includes('\u001b'), 'no escape sequence reached the log');
    assert.ok(!lines.some((l) => l.length > 2000), 'no 100,000-character line in the log');
  } finally {
    for (const c of [forger, huge]) {
      await c.transport.terminateSession().catch(() => undefined);
      await c.client.close();
    }
  }
});

test('R-SEC-6: an internal failure reaches the agent as a fixed sentence with an error id, never a path or errno; the log has the detail', async () => {
  // A cloned repository can hold anything under .session-coordinator: here a folder where a namespace's CURRENT file goes.
  mkdirSync(path.join(ws.path, '.session-coordinator', 'ns', 'planted', 'CURRENT'), { recursive: true });
  const agent = await httpClient(server.url, 'unlucky');
  try {
    const result = (await agent.client.callTool({ name: 'context_set', arguments: { namespace: 'planted', key: 'k', value: 1 } })) as {
      isError?: boolean;
      content: Array<{ text: string }>;
    };
    assert.equal(result.isError, true);
    const text = result.content[0]!.text;
    assert.match(
      text,
      /^InternalError: the session coordinator could not complete this call \(error ([0-9a-f]{8})\); the detail is in its log$/,
    );
    assert.ok(!text.includes(ws.path) && !/E[A-Z]{3,}/.test(text.replace('InternalError', '')), `no path, no errno: ${text}`);
    const id = /error ([0-9a-f]{8})/.exec(text)![1]!;
    await waitFor(() => server.stderr().includes(`error ${id}`), 'the detail in the log', 5000);
    const logged = server
      .stderr()
      .split('\n')
      .find((l) => l.includes(`error ${id}`))!;
    assert.match(logged, /E[A-Z]+|not a directory|planted/i, `the log says what failed: ${logged}`);
    // /status (and so the panel) still answers, with that namespace marked.
    const status = await fetchStatus<{ store: { namespaces: Array<{ name: string; unreadable?: string }> } }>(server);
    assert.match(status.store.namespaces.find((n) => n.name === 'planted')?.unreadable ?? '', /cannot be read|EISDIR/);
    // The session goes on.
    assert.equal(
      (await agent.client.callTool({ name: 'context_set', arguments: { namespace: 'fine', key: 'k', value: 1 } })).isError,
      undefined,
    );
  } finally {
    await agent.transport.terminateSession().catch(() => undefined);
    await agent.client.close();
  }
});

test('R-SEC-6: an upload the client cuts off is a refusal, counted as one, not an internal error', async () => {
  const internalBefore = await metric('http.internalErrors');
  const refusedBefore = await metric('http.refused');
  const { hostname, port } = new URL(server.url);
  for (let i = 0; i < 5; i++) {
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect(Number(port), hostname, () => {
        socket.write(
          `POST /mcp HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 100000\r\n\r\n{"jsonrpc":"2.0",`,
        );
        setTimeout(() => socket.destroy(), 50);
      });
      socket.on('close', () => resolve());
      socket.on('error', reject);
    });
  }
  const deadline = Date.now() + 5000;
  while ((await metric('http.refused')) < refusedBefore + 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(await metric('http.refused'), refusedBefore + 5, 'each cut-off upload counted as a refusal');
  assert.equal(await metric('http.internalErrors'), internalBefore, 'none counted as an internal error');
  assert.doesNotMatch(server.stderr(), /\[error\] HTTP POST \/mcp failed/);
});

test("R-SEC-2: one agent's sub-agents are capped, and making room never evicts a connected agent or one that holds claims", async () => {
  const own = await startServe(ws.path, home.path, ['--max-sessions', '20']);
  const clients: Array<Awaited<ReturnType<typeof httpClient>>> = [];
  try {
    const connect = async (name: string): Promise<Awaited<ReturnType<typeof httpClient>>> => {
      const c = await httpClient(own.url, name);
      clients.push(c);
      return c;
    };
    const holder = await connect('holder');
    const quiet = await connect('quiet-but-connected');
    const spawner = await connect('spawner');
    const claim = await holder.client.callTool({ name: 'claim_acquire', arguments: { resource: 'held.ts' } });
    assert.equal(claim.isError, undefined);
    const children: string[] = [];
    for (let i = 0; i < 16; i++) {
      const child = (await spawner.client.callTool({ name: 'session_create_child', arguments: {} })) as {
        isError?: boolean;
        structuredContent?: { sessionId: string };
      };
      assert.equal(child.isError, undefined, `child ${i + 1} of 16`);
      children.push(child.structuredContent!.sessionId);
    }
    const seventeenth = (await spawner.client.callTool({ name: 'session_create_child', arguments: {} })) as {
      isError?: boolean;
      content: Array<{ text: string }>;
    };
    assert.equal(seventeenth.isError, true);
    assert.match(
      seventeenth.content[0]!.text,
      /^SessionLimitReached: Session \S+ already has 16 child sessions, the most one session may have/,
    );
    // 19 sessions live; newcomers make room by evicting the spawner's children (no connection, no claims), oldest first.
    for (let i = 0; i < 5; i++) await connect(`newcomer-${i}`);
    const me = await whoami(holder.client);
    const live = new Set([me.sessionId, ...me.peers.map((p) => p.sessionId)]);
    assert.equal(live.size, 20);
    for (const c of [holder, quiet, spawner]) assert.ok(live.has((await whoami(c.client)).sessionId), 'a connected agent was evicted');
    assert.equal(children.filter((id) => !live.has(id)).length, 4, 'four children made room');
    assert.equal(await metric('sessions.evicted', own), 4);
    const { claims } = (await holder.client.callTool({ name: 'claim_list', arguments: {} })).structuredContent as {
      claims: Array<{ resource: string }>;
    };
    assert.ok(
      claims.some((c) => c.resource === 'held.ts'),
      'the holder kept its claim',
    );
  } finally {
    for (const c of clients) {
      await c.transport.terminateSession().catch(() => undefined);
      await c.client.close();
    }
    await own.stop();
  }
});

test('R-SEC-1: the store quotas are settings: serve --max-namespaces and --max-namespace-mib refuse over MCP with QuotaExceeded, reads go on; a bad value is a usage error', async () => {
  const ownWs = tempDir('sc-quota-ws-');
  const own = await startServe(ownWs.path, home.path, ['--max-namespaces', '2', '--max-namespace-mib', '1']);
  const agent = await httpClient(own.url, 'filler');
  try {
    const set = async (namespace: string, value: unknown): Promise<{ isError?: boolean; content: Array<{ text: string }> }> =>
      (await agent.client.callTool({ name: 'context_set', arguments: { namespace, key: 'k', value } })) as {
        isError?: boolean;
        content: Array<{ text: string }>;
      };
    assert.equal((await set('one', 1)).isError, undefined);
    assert.equal((await set('two', 2)).isError, undefined);
    const third = await set('three', 3);
    assert.equal(third.isError, true);
    assert.match(
      third.content[0]!.text,
      /^QuotaExceeded: Namespace "three" would be one too many: the store holds 2 namespaces, the most it may hold \(2\)/,
    );
    // Two values each under the 1 MiB value limit, together over the namespace's 1 MiB.
    assert.equal(
      (await agent.client.callTool({ name: 'context_set', arguments: { namespace: 'two', key: 'half', value: 'x'.repeat(600_000) } }))
        .isError,
      undefined,
    );
    const big = (await agent.client.callTool({
      name: 'context_set',
      arguments: { namespace: 'two', key: 'more', value: 'x'.repeat(600_000) },
    })) as { content: Array<{ text: string }> };
    assert.match(
      big.content[0]!.text,
      /^QuotaExceeded: Namespace "two" would hold 1\.1 MiB with two\/more; the limit is 1\.0 MiB per namespace/,
    );
    const read = (await agent.client.callTool({ name: 'context_get', arguments: { namespace: 'one', key: 'k' } })) as unknown as {
      structuredContent: { value: unknown };
    };
    assert.equal(read.structuredContent.value, 1, 'reads go on');
  } finally {
    await agent.transport.terminateSession().catch(() => undefined);
    await agent.client.close();
    await own.stop();
    await ownWs.remove();
  }
  const bad = await runCliWith(['serve', '--http', '--workspace', ws.path, '--max-namespaces', '0'], cliEnv(home.path), {
    timeoutMs: 10_000,
  });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--max-namespaces must be a whole number of at least 1/);
});
