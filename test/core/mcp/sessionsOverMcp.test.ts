import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { after, before, test } from 'node:test';
import { httpClient, whoami, type WhoAmI } from '../../support/mcpClients.js';
import { fetchStatus, startServe, TOKEN, type ServeHandle } from '../../support/processes.js';
import { initializeBody, openRawSession, post } from '../../support/rawHttp.js';
import { tempDir } from '../../support/workspace.js';

const ws = tempDir();
const home = tempDir();
let server: ServeHandle;

before(async () => {
  server = await startServe(ws.path, home.path, ['--max-sessions', '200']);
});
after(async () => {
  await server.stop();
  await ws.remove();
  await home.remove();
});

function status(): Promise<{ sessions: Array<{ id: string; state: { kind: string } }>; metrics: Record<string, unknown> }> {
  return fetchStatus(server);
}

test('R-SES-9: whoami shows the client, transport, root and request count of the session', async () => {
  const { client } = await httpClient(server.url, 'Claude Code');
  const me = await whoami(client);
  assert.equal(me.client.name, 'Claude Code');
  assert.equal(me.transport, 'http');
  assert.equal(me.root, ws.path);
  assert.equal(me.state, 'active');
  assert.ok(me.requestCount >= 2, 'initialize and the call itself are counted');
  assert.ok(me.resumeHandle && me.resumeHandle.length >= 32);
  await client.close();
});

test('R-MCP-1: 50 sessions x 20 concurrent calls, the same JSON-RPC ids in every session: every answer reaches its own caller', async () => {
  const baseline = (await status()).metrics;
  const sids = await Promise.all(Array.from({ length: 50 }, (_, i) => openRawSession(server.url, `iso-${i}`)));
  const results = await Promise.all(
    sids.flatMap((sid) =>
      Array.from({ length: 20 }, (_, call) =>
        post(
          server.url,
          { jsonrpc: '2.0', id: call === 0 ? 1 : call + 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } },
          { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' },
        ).then((r) => ({ sid, call, r })),
      ),
    ),
  );
  const during = (await status()).metrics;
  assert.ok(Number(during['http.sessions']) >= 50, `fifty HTTP transports while they live (${during['http.sessions']})`);
  const owner = new Map<string, string>();
  for (const { sid, call, r } of results) {
    assert.equal(r.status, 200);
    const message = r.messages.find((m) => 'result' in m)!;
    assert.equal(message.id, call === 0 ? 1 : call + 1, 'the answer carries the id the caller sent');
    const me = (message.result as { structuredContent: WhoAmI }).structuredContent;
    assert.equal(me.client.name.startsWith('iso-'), true);
    const prev = owner.get(sid);
    if (prev) assert.equal(me.sessionId, prev, 'every answer on one HTTP session names the same coordinator session');
    owner.set(sid, me.sessionId);
  }
  assert.equal(new Set(owner.values()).size, 50, 'fifty sessions, none answered with another one');
  await Promise.all(
    sids.map((sid) =>
      fetch(server.url, {
        method: 'DELETE',
        headers: { Authorization: `Bearer ${TOKEN}`, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' },
      }),
    ),
  );
  const m = (await status()).metrics;
  // At most the baseline: a session an earlier test left to its client's going may end meanwhile, never one of these fifty stay.
  assert.ok(
    Number(m['http.sessions']) <= Number(baseline['http.sessions']),
    `no HTTP transport left in any map (${m['http.sessions']}, before ${baseline['http.sessions']})`,
  );
  assert.equal(m['requests.pending'], 0, 'no pending request left');
  assert.ok(
    Number(m['sessions.active']) <= Number(baseline['sessions.active']),
    `no session left active (${m['sessions.active']}, before ${baseline['sessions.active']})`,
  );
});

test('R-REQ-4: over the per-session limit a call fails with a clear "too many requests" error and the session keeps working', async () => {
  const limited = await import('../../support/processes.js').then((p) => p.startServe(ws.path, home.path, ['--max-pending', '3']));
  try {
    const sid = await openRawSession(limited.url);
    const headers = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' };
    const batch = Array.from({ length: 8 }, (_, i) => ({
      jsonrpc: '2.0',
      id: 100 + i,
      method: 'tools/call',
      params: { name: 'whoami', arguments: {} },
    }));
    const res = await post(limited.url, batch, headers);
    const errors = res.messages
      .filter((m) => 'error' in m)
      .map((m) => m.error as { code: number; message: string; data: { code: string } });
    const oks = res.messages.filter((m) => 'result' in m);
    assert.equal(oks.length, 3);
    assert.equal(errors.length, 5);
    for (const e of errors) {
      assert.equal(e.code, -32000);
      assert.match(e.message, /Too many requests/);
      assert.equal(e.data.code, 'TooManyRequests');
    }
    const after = await post(
      limited.url,
      { jsonrpc: '2.0', id: 200, method: 'tools/call', params: { name: 'whoami', arguments: {} } },
      headers,
    );
    assert.ok(
      after.messages.some((m) => 'result' in m),
      'the session still works',
    );
  } finally {
    await limited.stop();
  }
});

test('R-SES-10: an agent that reconnects presents its resume handle and gets its session back', async () => {
  const first = await httpClient(server.url, 'reconnecting-agent');
  const before = await whoami(first.client);
  const child = await first.client.callTool({ name: 'session_create_child', arguments: { tags: ['tests'] } });
  const childId = (child.structuredContent as { sessionId: string }).sessionId;
  // The agent restarts: a new HTTP session, with no memory but the handle.
  const second = await httpClient(server.url, 'reconnecting-agent');
  const provisional = await whoami(second.client);
  assert.notEqual(provisional.sessionId, before.sessionId);
  const resumed = await second.client.callTool({ name: 'session_resume', arguments: { resumeHandle: before.resumeHandle } });
  assert.equal(resumed.isError, undefined, JSON.stringify(resumed.content));
  assert.deepEqual(resumed.structuredContent, {
    sessionId: before.sessionId,
    root: ws.path,
    tags: [],
    previousSessionId: provisional.sessionId,
  });
  const after = await whoami(second.client);
  assert.equal(after.sessionId, before.sessionId);
  assert.deepEqual(after.childIds, [childId], 'what the session owned came back with it');
  const s = await status();
  assert.equal(
    s.sessions.some((x) => x.id === provisional.sessionId),
    false,
    'the provisional session ended',
  );
  // The old connection no longer speaks for the session.
  await assert.rejects(first.client.callTool({ name: 'whoami', arguments: {} }));
  await second.client.close();
});

test('R-SES-7: a sub-agent resumes a child session made by its parent, and closes with the parent', async () => {
  const parent = await httpClient(server.url, 'lead-agent');
  const made = (await parent.client.callTool({ name: 'session_create_child', arguments: {} })).structuredContent as {
    sessionId: string;
    resumeHandle: string;
    parentId: string;
  };
  const sub = await httpClient(server.url, 'sub-agent');
  await sub.client.callTool({ name: 'session_resume', arguments: { resumeHandle: made.resumeHandle } });
  const me = await whoami(sub.client);
  assert.equal(me.sessionId, made.sessionId);
  assert.equal(me.parentId, made.parentId);
  assert.ok(me.tags.includes('sub-agent'));
  await parent.transport.terminateSession();
  await assert.rejects(sub.client.callTool({ name: 'whoami', arguments: {} }), 'the child ended with its parent');
  await parent.client.close();
});

test('R-SES-4: at the session limit initialize fails with a clear SessionLimitReached error', async () => {
  const small = await import('../../support/processes.js').then((p) => p.startServe(ws.path, home.path, ['--max-sessions', '2']));
  try {
    const a = await httpClient(small.url, 'a');
    const b = await httpClient(small.url, 'b');
    const refused = await post(small.url, initializeBody(1, 'c'));
    const err = refused.messages.find((m) => 'error' in m)?.error as { message: string; data: { code: string; limit: number } };
    assert.equal(err.data.code, 'SessionLimitReached');
    assert.equal(err.data.limit, 2);
    assert.match(err.message, /Session limit reached/);
    assert.equal((await whoami(a.client)).state, 'active');
    await a.client.close();
    await b.client.close();
  } finally {
    await small.stop();
  }
});

test('R-ROOT-4: an agent that declares MCP roots is bound to them; a declared root outside the workspace is refused', async () => {
  const pkg = path.join(ws.path, 'packages', 'api');
  mkdirSync(pkg, { recursive: true });
  const outside = tempDir('sc-outside-');
  let roots = [
    { uri: pathToFileURL(pkg).href, name: 'api' },
    { uri: pathToFileURL(outside.path).href, name: 'elsewhere' },
  ];
  const client = new Client({ name: 'rooted-agent', version: '1' }, { capabilities: { roots: { listChanged: true } } });
  client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots }));
  await client.connect(
    new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } } }),
  );
  const me = (await client.callTool({ name: 'whoami', arguments: {} })).structuredContent as WhoAmI & {
    refusedRoots: Array<{ uri: string; reason: string }>;
  };
  assert.equal(me.root, pkg, 'bound to the declared root inside the workspace');
  // The log line is written before the answer, but on another pipe: give it a moment to arrive.
  const logged = `Session ${me.sessionId} works at ${pkg} (the roots its agent declared)`;
  for (let i = 0; i < 100 && !server.stderr().includes(logged); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(server.stderr().includes(logged), 'the log says where it works now');
  assert.equal(me.refusedRoots.length, 1);
  assert.equal(me.refusedRoots[0]!.uri, pathToFileURL(outside.path).href);
  assert.match(me.refusedRoots[0]!.reason, /outside the workspace/);
  assert.ok(me.refusedRoots[0]!.reason.includes(outside.path), 'the reason names the path');
  // The agent changes its roots: the binding follows.
  roots = [{ uri: pathToFileURL(ws.path).href, name: 'all' }];
  await client.sendRootsListChanged();
  let again = me;
  for (let i = 0; i < 50 && again.root !== ws.path; i++) {
    await new Promise((r) => setTimeout(r, 20));
    again = (await client.callTool({ name: 'whoami', arguments: {} })).structuredContent as typeof me;
  }
  assert.equal(again.root, ws.path);
  assert.deepEqual(again.refusedRoots, []);
  await client.close();
  await outside.remove();
});
