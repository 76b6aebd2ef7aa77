import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { httpClient, whoami } from '../../support/mcpClients.js';
import { startServe, TOKEN, type ServeHandle } from '../../support/processes.js';
import { ACCEPT, initializeBody, lowLevel, openRawSession, post, type LowLevelRequest } from '../../support/rawHttp.js';
import { tempDir } from '../../support/workspace.js';

const ws = tempDir();
const home = tempDir();
let server: ServeHandle;
let host: string;

before(async () => {
  server = await startServe(ws.path, home.path);
  host = new URL(server.url).host;
});
after(async () => {
  await server.stop();
  await ws.remove();
  await home.remove();
});

const good = (extra: Record<string, string> = {}): Record<string, string> => ({
  Host: host,
  'Content-Type': 'application/json',
  Accept: ACCEPT,
  Authorization: `Bearer ${TOKEN}`,
  ...extra,
});

function assertCleanError(
  res: { status: number; headers: Record<string, unknown>; text: string },
  status: number,
  what: string,
): Record<string, unknown> {
  assert.equal(res.status, status, `${what}: ${res.text}`);
  assert.match(String(res.headers['content-type']), /application\/json/, `${what} answers JSON`);
  assert.doesNotMatch(res.text, /<html|<!DOCTYPE|\n\s+at /i, `${what}: no HTML page, no stack trace`);
  const body = JSON.parse(res.text) as { jsonrpc: string; error: { code: number; message: string } };
  assert.equal(body.jsonrpc, '2.0');
  assert.equal(typeof body.error.code, 'number');
  assert.ok(body.error.message.length > 5, `${what}: a message a person can read`);
  return body as unknown as Record<string, unknown>;
}

test('R-MCP-2: binds to loopback only', () => {
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
});

test('R-MCP-2: foreign or absent Host, and foreign Origin, are refused with 403 (DNS-rebinding protection)', async () => {
  const init = JSON.stringify(initializeBody());
  assertCleanError(await lowLevel(server.url, { headers: good({ Host: 'evil.example.com' }), body: init }), 403, 'foreign Host');
  assertCleanError(
    await lowLevel(server.url, { headers: good({ Host: `evil.example.com:${new URL(server.url).port}` }), body: init }),
    403,
    'foreign Host with our port',
  );
  const { Host: _h, ...noHost } = good();
  assertCleanError(await lowLevel(server.url, { headers: noHost, body: init, setHost: false }), 403, 'no Host');
  // The SDK's own Express app checks Host only; a foreign Origin with a valid Host must be refused too.
  assertCleanError(await lowLevel(server.url, { headers: good({ Origin: 'http://evil.example.com' }), body: init }), 403, 'foreign Origin');
  assertCleanError(await lowLevel(server.url, { headers: good({ Origin: 'null' }), body: init }), 403, 'opaque Origin');
  const ok = await lowLevel(server.url, { headers: good({ Origin: `http://${host}` }), body: init });
  assert.equal(ok.status, 200, 'a loopback Origin is fine');
});

test('R-MCP-2: a missing or wrong bearer token gets 401', async () => {
  const init = JSON.stringify(initializeBody());
  const { Authorization: _a, ...noToken } = good();
  const missing = await lowLevel(server.url, { headers: noToken, body: init });
  const refusal = assertCleanError(missing, 401, 'no token') as { error: { message: string } };
  assert.match(String(missing.headers['www-authenticate']), /^Bearer/);
  // It says where the token is (the discovery files hold none): this participant's own place for it
  // (the tests set SESSION_COORDINATOR_TOKEN; serve.test.ts checks the token file's path), never the token.
  assert.match(refusal.error.message, /the token in SESSION_COORDINATOR_TOKEN$/);
  assert.doesNotMatch(refusal.error.message, new RegExp(TOKEN));
  assertCleanError(await lowLevel(server.url, { headers: good({ Authorization: `Bearer ${TOKEN}x` }), body: init }), 401, 'wrong token');
  assertCleanError(await lowLevel(server.url, { headers: good({ Authorization: 'Basic abc' }), body: init }), 401, 'wrong scheme');
});

test('R-MCP-2: an unknown session id answers 404, a missing one 400, and DELETE ends the session', async () => {
  const notFound = assertCleanError(
    await lowLevel(server.url, {
      headers: good({ 'mcp-session-id': 'no-such-session' }),
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }),
    }),
    404,
    'unknown session',
  );
  assert.match(JSON.stringify(notFound), /Session not found/);
  assertCleanError(
    await lowLevel(server.url, { headers: good(), body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }) }),
    400,
    'no session id',
  );
  const sid = await openRawSession(server.url);
  const del = await lowLevel(server.url, {
    method: 'DELETE',
    headers: good({ 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' }),
  });
  assert.equal(del.status, 200);
  assertCleanError(
    await lowLevel(server.url, {
      headers: good({ 'mcp-session-id': sid }),
      body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'ping' }),
    }),
    404,
    'ended session',
  );
});

test('R-MCP-4: 200 bad requests get clear JSON-RPC errors, zero 5xx, zero stack traces, and a good client still works', async () => {
  const sid = await openRawSession(server.url, 'victim');
  const session = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' };
  const big = Buffer.alloc(5 * 1024 * 1024, 'a');
  const batch101 = JSON.stringify(Array.from({ length: 101 }, (_, i) => ({ jsonrpc: '2.0', id: i + 1, method: 'ping' })));
  const cases: Array<[string, LowLevelRequest, number]> = [
    ['foreign Host', { headers: good({ Host: 'attacker.test' }), body: '{}' }, 403],
    ['foreign Origin', { headers: good({ Origin: 'https://attacker.test' }), body: '{}' }, 403],
    ['no token', { headers: { ...good(), Authorization: '' }, body: '{}' }, 401],
    ['wrong token', { headers: good({ Authorization: 'Bearer nope' }), body: '{}' }, 401],
    ['unknown session', { headers: good({ 'mcp-session-id': 'deadbeef' }), body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' }, 404],
    ['oversized body', { headers: good(session), body: big }, 413],
    ['malformed JSON', { headers: good(session), body: '{"jsonrpc": "2.0", "id": 1, "method": ' }, 400],
    ['not JSON-RPC', { headers: good(session), body: '{"hello":"world"}' }, 400],
    ['101-message batch', { headers: good(session), body: batch101 }, 400],
    ['wrong path', { path: '/admin', headers: good(), body: '{}' }, 404],
    ['wrong method', { method: 'PUT', headers: good(), body: '{}' }, 405],
    ['no session id', { headers: good(), body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' }, 400],
  ];
  const seen = new Map<string, number>();
  for (let i = 0; i < 200; i++) {
    const [what, req, status] = cases[i % cases.length]!;
    const res = await lowLevel(server.url, req);
    assert.ok(res.status < 500, `${what}: got ${res.status}`);
    assertCleanError(res, status, what);
    seen.set(what, (seen.get(what) ?? 0) + 1);
  }
  assert.equal(seen.size, cases.length);
  // Errors inside a good session are JSON-RPC errors too, and the session survives them.
  const unknownMethod = await post(server.url, { jsonrpc: '2.0', id: 9, method: 'no/such/method' }, session);
  assert.equal((unknownMethod.messages[0]?.error as { code: number }).code, -32601);
  const badArgs = await post(
    server.url,
    { jsonrpc: '2.0', id: 10, method: 'tools/call', params: { name: 'session_resume', arguments: { resumeHandle: 42 } } },
    session,
  );
  const result = badArgs.messages[0]?.result as { isError: boolean; content: Array<{ text: string }> };
  assert.equal(result.isError, true);
  assert.match(result.content[0]!.text, /resumeHandle/);
  const { client } = await httpClient(server.url, 'after-the-storm');
  const me = await whoami(client);
  assert.equal(me.client.name, 'after-the-storm');
  assert.ok(
    me.peers.some((p) => p.client.name === 'victim'),
    'the victim session is still there',
  );
  await client.close();
  assert.doesNotMatch(server.stderr(), /\n\s+at /, 'no stack traces in the log either');
});

test('R-MCP-4: a client that sends JSON without the right Accept or Content-Type gets a clear 4xx', async () => {
  const init = JSON.stringify(initializeBody());
  const noAccept = await lowLevel(server.url, { headers: good({ Accept: 'text/html' }), body: init });
  assertCleanError(noAccept, 406, 'no Accept');
  const wrongType = await lowLevel(server.url, { headers: good({ 'Content-Type': 'text/plain' }), body: init });
  assertCleanError(wrongType, 415, 'wrong Content-Type');
});
