import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { cliEnvWithoutToken, collect, exitWithin, modeOf, runCliWith, waitFor } from '../support/cliProcesses.js';
import { freePort } from '../support/ports.js';
import { httpClient, whoami } from '../support/mcpClients.js';
import { CLI, cliEnv, startServe, stopChild, TOKEN, type ServeHandle } from '../support/processes.js';
import { tempDir } from '../support/workspace.js';

const ws = tempDir();
const homes: Array<{ path: string; remove(): Promise<void> }> = [];
const running: ServeHandle[] = [];

/** A fresh temp folder whose (not yet existing) `install` subfolder is the install dir. */
function freshHome(): { dir: string; install: string } {
  const t = tempDir('sc-cli-home-');
  homes.push(t);
  return { dir: t.path, install: path.join(t.path, 'install') };
}

async function serve(home: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ServeHandle> {
  const handle = await startServe(ws.path, home, args, env);
  running.push(handle);
  return handle;
}

after(async () => {
  await Promise.all(running.map((s) => s.stop()));
  await ws.remove();
  await Promise.all(homes.map((h) => h.remove()));
});

/** The status code of a bare initialize POST with this bearer token. */
async function initializeStatus(url: string, token: string): Promise<number> {
  return (await initialize(url, token)).status;
}

async function initialize(url: string, token: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', Authorization: `Bearer ${token}` },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'probe', version: '1' } },
    }),
  });
  return { status: res.status, body: await res.text() };
}

test('R-CLI-1: serve --http prints "Session Coordinator listening on http://127.0.0.1:<port>/mcp" on stderr, nothing on stdout, and honours --port', async () => {
  const home = freshHome();
  const port = await freePort();
  const server = await serve(home.install, ['--port', String(port)]);
  const stdout = collect(server.child.stdout!);
  assert.equal(server.url, `http://127.0.0.1:${port}/mcp`);
  assert.match(server.stderr(), new RegExp(`^Session Coordinator listening on http://127\\.0\\.0\\.1:${port}/mcp$`, 'm'));
  assert.match(server.stderr(), /^Send "Authorization: Bearer <token>", the token in SESSION_COORDINATOR_TOKEN$/m, 'where the token is');
  assert.doesNotMatch(server.stderr(), new RegExp(TOKEN), 'never the token itself');
  const { client } = await httpClient(server.url, 'port-check');
  const me = await whoami(client);
  assert.equal(me.root, ws.path);
  assert.equal(me.transport, 'http');
  assert.equal(me.pid, server.child.pid, 'the process we started answers on that port');
  await client.close();
  assert.equal(await server.stop(), 0);
  assert.equal(stdout(), '', 'stdout stays empty without --stdio');
});

test('R-CLI-1: without --port serve picks a free port itself (port 0)', async () => {
  const [a, b] = await Promise.all([serve(freshHome().install), serve(freshHome().install)]);
  for (const s of [a!, b!]) assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
  assert.notEqual(new URL(a!.url).port, new URL(b!.url).port, 'two servers, two ports');
  assert.notEqual(new URL(a!.url).port, '0');
});

test('R-CLI-1: with SESSION_COORDINATOR_TOKEN set, that token (and only it) opens the endpoint, and no token file is written', async () => {
  const home = freshHome();
  const custom = `custom-token-${process.pid}-${Date.now()}-0123456789`;
  const server = await serve(home.install, [], { SESSION_COORDINATOR_TOKEN: custom });
  assert.equal(await initializeStatus(server.url, custom), 200);
  const refused = await initialize(server.url, TOKEN);
  assert.equal(refused.status, 401, 'the default test token is not accepted');
  assert.match(refused.body, /the token in SESSION_COORDINATOR_TOKEN"/, 'the 401 says where the token is');
  assert.doesNotMatch(refused.body, new RegExp(custom), 'never the token itself');
  const { client } = await httpClient(server.url, 'env-token', custom);
  assert.equal((await whoami(client)).client.name, 'env-token');
  await client.close();
  assert.equal(existsSync(path.join(home.install, 'token')), false, 'the env token is not persisted');
});

test('R-CLI-1: without SESSION_COORDINATOR_TOKEN a token file (0600, folder 0700) is created in the install dir, works with a real client, and is reused by a second serve', async () => {
  const home = freshHome();
  const env = { SESSION_COORDINATOR_TOKEN: undefined };
  const first = await serve(home.install, [], env);
  const tokenFile = path.join(home.install, 'token');
  assert.ok(existsSync(tokenFile), 'token file created in $SESSION_COORDINATOR_HOME');
  assert.equal(modeOf(tokenFile).toString(8), '600');
  assert.equal(modeOf(home.install).toString(8), '700');
  const token = readFileSync(tokenFile, 'utf8').trim();
  assert.ok(token.length >= 32, `a long random token, got ${JSON.stringify(token)}`);
  assert.notEqual(token, TOKEN);

  const { client } = await httpClient(first.url, 'file-token', token);
  assert.equal((await whoami(client)).client.name, 'file-token');
  await client.close();
  const refused = await initialize(first.url, 'not-the-token');
  assert.equal(refused.status, 401);
  // This install's own file, wherever SESSION_COORDINATOR_HOME or XDG_STATE_HOME put it, not a fixed ~/.local/state.
  assert.equal(
    (JSON.parse(refused.body) as { error: { message: string } }).error.message.endsWith(`the token in ${tokenFile}`),
    true,
    refused.body,
  );
  assert.doesNotMatch(refused.body, new RegExp(token), 'never the token itself');

  const second = await serve(home.install, [], env);
  assert.equal(readFileSync(tokenFile, 'utf8').trim(), token, 'the token file is not rewritten');
  assert.equal(modeOf(tokenFile).toString(8), '600');
  const again = await httpClient(second.url, 'file-token-2', token);
  assert.equal((await whoami(again.client)).client.name, 'file-token-2');
  await again.client.close();

  // After both stop, a third run still uses the same token.
  assert.equal(await first.stop(), 0);
  assert.equal(await second.stop(), 0);
  const third = await serve(home.install, [], env);
  assert.equal(await initializeStatus(third.url, token), 200);
});

test('R-CLI-1: several serves started at once on a fresh install agree on one token', async () => {
  const home = freshHome();
  const servers = await Promise.all(Array.from({ length: 4 }, () => serve(home.install, [], { SESSION_COORDINATOR_TOKEN: undefined })));
  const token = readFileSync(path.join(home.install, 'token'), 'utf8').trim();
  assert.ok(token.length >= 32);
  const statuses = await Promise.all(servers.map((s) => initializeStatus(s.url, token)));
  assert.deepEqual(statuses, [200, 200, 200, 200]);
});

test('R-CLI-1: a discovery file participants/<pid>.json (0600) exists while serving and is removed on SIGTERM; serve exits 0', async () => {
  const home = freshHome();
  const server = await serve(home.install);
  const pid = server.child.pid!;
  const dir = path.join(home.install, 'participants');
  const file = path.join(dir, `${pid}.json`);
  assert.ok(existsSync(file), `${file} exists while serving`);
  assert.equal(modeOf(file).toString(8), '600');
  assert.equal(modeOf(dir).toString(8), '700');
  const entry = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  assert.equal(entry.pid, pid);
  assert.equal(entry.url, server.url);
  assert.equal(entry.kind, 'headless');
  assert.deepEqual(entry.workspaceRoots, [ws.path]);
  assert.ok(!Number.isNaN(Date.parse(String(entry.startedAt))), 'startedAt is a date');
  assert.deepEqual(readdirSync(dir), [`${pid}.json`], 'no temp files left beside it');

  assert.equal(await server.stop(), 0, 'SIGTERM ends serve with exit code 0');
  assert.equal(server.child.signalCode, null, 'it exited by itself, not killed by the signal');
  assert.equal(existsSync(file), false, 'discovery file removed on SIGTERM');
  assert.deepEqual(readdirSync(dir), []);
  assert.match(server.stderr(), /Stopping: SIGTERM/);
});

test('R-CLI-1: SIGINT (Ctrl-C) also removes the discovery file and exits 0', async () => {
  const home = freshHome();
  const server = await serve(home.install);
  const file = path.join(home.install, 'participants', `${server.child.pid}.json`);
  assert.ok(existsSync(file));
  assert.equal(await stopChild(server.child, 'SIGINT'), 0);
  assert.equal(existsSync(file), false);
});

test('R-CLI-1: serve --workspace /does/not/exist exits 1 with a message naming the path on stderr, and leaves nothing behind', async () => {
  const home = freshHome();
  const missing = '/does/not/exist';
  assert.equal(existsSync(missing), false);
  const res = await runCliWith(['serve', '--workspace', missing], cliEnv(home.install));
  assert.equal(res.timedOut, false, 'it exits by itself');
  assert.equal(res.code, 1, res.stderr);
  assert.match(res.stderr, /session-coordinator: .*\/does\/not\/exist/);
  assert.doesNotMatch(res.stderr, /listening on/);
  assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(res.stdout, '');
  const participants = path.join(home.install, 'participants');
  assert.ok(!existsSync(participants) || readdirSync(participants).length === 0, 'no discovery file');
});

test('R-CLI-1, R-SEC-7: serve refuses a --workspace that is a file, or a second one that does not exist, naming it, before starting anything', async () => {
  const home = freshHome();
  const file = path.join(ws.path, 'a-file.ts');
  writeFileSync(file, 'export {};\n');
  for (const [args, named, why] of [
    [['--workspace', file], file, 'is not a folder'],
    [['--workspace', ws.path, '--workspace', '/does/not/exist'], '/does/not/exist', 'does not exist'],
  ] as const) {
    const res = await runCliWith(['serve', ...args], cliEnv(home.install));
    assert.equal(res.timedOut, false, 'it exits by itself');
    assert.equal(res.code, 1, res.stderr);
    assert.equal(res.stderr, `session-coordinator: --workspace ${named} ${why}\n`, 'one line, naming the folder and why');
    assert.equal(res.stdout, '');
  }
  const participants = path.join(home.install, 'participants');
  assert.ok(!existsSync(participants) || readdirSync(participants).length === 0, 'no discovery file');
});

test('R-CLI-1: with --stdio --http, stdout carries only MCP JSON-RPC lines while HTTP and the log are busy, and the stdio client ending stops serve cleanly', async () => {
  const home = freshHome();
  const child = spawn(process.execPath, [CLI, 'serve', '--stdio', '--http', '--log-level', 'trace', '--workspace', ws.path], {
    env: cliEnv(home.install),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stdout = collect(child.stdout);
  const stderr = collect(child.stderr);
  try {
    await waitFor(() => /listening on (\S+)/.test(stderr()), 'the URL on stderr');
    const url = /listening on (\S+)/.exec(stderr())![1]!;
    const send = (msg: unknown): void => void child.stdin.write(JSON.stringify(msg) + '\n');
    send({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw-stdio', version: '1' } },
    });
    await waitFor(() => stdout().includes('\n'), 'the initialize response');
    send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'whoami', arguments: {} } });
    send({ jsonrpc: '2.0', id: 4, method: 'no/such/method' });
    // Meanwhile HTTP traffic makes the server log (at trace level) as much as it can.
    const { client } = await httpClient(url, 'busy-http');
    await whoami(client);
    await client.close();
    await waitFor(() => (stdout().match(/\n/g) ?? []).length >= 4, 'four responses on stdout');

    const file = path.join(home.install, 'participants', `${child.pid}.json`);
    assert.ok(existsSync(file), 'the HTTP side wrote its discovery file');
    const exited = exitWithin(child, 5000);
    child.stdin.end();
    assert.equal(await exited, 0, 'stdin ending stops serve with exit code 0 (or hung for 5 s)');
    assert.equal(existsSync(file), false, 'and removes the discovery file');

    const lines = stdout().split('\n');
    assert.equal(lines.pop(), '', 'stdout ends with a newline');
    const messages = lines.map((line, i) => {
      let parsed: Record<string, unknown>;
      assert.doesNotThrow(() => (parsed = JSON.parse(line) as Record<string, unknown>), `stdout line ${i + 1} is not JSON: ${line}`);
      return parsed!;
    });
    for (const m of messages) assert.equal(m.jsonrpc, '2.0', `not JSON-RPC: ${JSON.stringify(m)}`);
    const byId = new Map(messages.filter((m) => 'id' in m).map((m) => [m.id, m]));
    assert.ok((byId.get(1)?.result as { serverInfo?: unknown } | undefined)?.serverInfo, 'initialize answered');
    assert.ok(Array.isArray((byId.get(2)?.result as { tools?: unknown } | undefined)?.tools), 'tools/list answered');
    const me = (byId.get(3)?.result as { structuredContent?: { root: string; transport: string } } | undefined)?.structuredContent;
    assert.equal(me?.root, ws.path);
    assert.equal(me?.transport, 'stdio');
    assert.equal((byId.get(4)?.error as { code: number } | undefined)?.code, -32601);
    assert.match(stderr(), /listening on/, 'the URL went to stderr');
  } finally {
    await stopChild(child, 'SIGKILL');
  }
});

test('R-CLI-1: serve --stdio --http exits 0 on SIGTERM even while its stdin is still open, and removes its discovery file', async () => {
  const home = freshHome();
  const child = spawn(process.execPath, [CLI, 'serve', '--stdio', '--http', '--workspace', ws.path], {
    env: cliEnv(home.install),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stderr = collect(child.stderr);
  const stdout = collect(child.stdout);
  try {
    await waitFor(() => /listening on/.test(stderr()), 'the URL on stderr');
    child.stdin.write(
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
      }) + '\n',
    );
    await waitFor(() => stdout().includes('\n'), 'the initialize response');
    const file = path.join(home.install, 'participants', `${child.pid}.json`);
    assert.ok(existsSync(file));
    const exited = exitWithin(child, 5000);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, 'exit code after SIGTERM (or hung for 5 s)');
    assert.equal(existsSync(file), false);
  } finally {
    await stopChild(child, 'SIGKILL');
  }
});

test('R-CLI-1: a second serve of the same workspace runs beside the first, each with its own discovery file', async () => {
  const home = freshHome();
  const [a, b] = await Promise.all([serve(home.install), serve(home.install)]);
  const dir = path.join(home.install, 'participants');
  assert.deepEqual(readdirSync(dir).sort(), [`${a!.child.pid}.json`, `${b!.child.pid}.json`].sort());
  assert.equal(await a!.stop(), 0);
  assert.deepEqual(readdirSync(dir), [`${b!.child.pid}.json`], "stopping one leaves the other one's file alone");
});

test('R-CLI-1: the token file stays private even when the install dir already exists', async () => {
  const home = freshHome();
  // An install dir that exists already (e.g. made by an older version or by hand) with a token file readable by others.
  mkdirSync(home.install, { mode: 0o700 });
  writeFileSync(path.join(home.install, 'token'), 'pre-existing-token-0123456789abcdef\n', { mode: 0o644 });
  const server = await serve(home.install, [], { SESSION_COORDINATOR_TOKEN: undefined });
  assert.equal(await initializeStatus(server.url, 'pre-existing-token-0123456789abcdef'), 200, 'the existing token is used');
  assert.equal(modeOf(path.join(home.install, 'token')).toString(8), '600', 'and its mode is tightened to 0600');
});

test('R-CLI-1: serve --stdio alone opens no HTTP endpoint, writes no token or discovery file, and exits 0 on SIGTERM', async () => {
  const home = freshHome();
  const child = spawn(process.execPath, [CLI, 'serve', '--stdio', '--workspace', ws.path], {
    env: cliEnvWithoutToken(home.install),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stdout = collect(child.stdout);
  const stderr = collect(child.stderr);
  try {
    child.stdin.write(
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'stdio-only', version: '1' } },
      }) + '\n',
    );
    await waitFor(() => stdout().includes('\n'), 'the initialize response');
    assert.equal((JSON.parse(stdout().split('\n')[0]!) as { id: number }).id, 1);
    assert.doesNotMatch(stderr(), /listening on/, 'no HTTP without --http');
    assert.equal(existsSync(home.install), false, 'the install dir is not even created');
    const exited = exitWithin(child, 5000);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, 'exit code after SIGTERM (or hung for 5 s)');
  } finally {
    await stopChild(child, 'SIGKILL');
  }
});

test('R-CLI-1: SIGTERM while HTTP clients are still connected (with their SSE streams open) exits 0 promptly and removes the discovery file', async () => {
  const home = freshHome();
  const server = await serve(home.install);
  const clients = await Promise.all([httpClient(server.url, 'still-here-1'), httpClient(server.url, 'still-here-2')]);
  await Promise.all(clients.map((c) => whoami(c.client)));
  const file = path.join(home.install, 'participants', `${server.child.pid}.json`);
  assert.ok(existsSync(file));
  const exited = exitWithin(server.child, 5000);
  server.child.kill('SIGTERM');
  assert.equal(await exited, 0, 'exit code after SIGTERM with clients connected (or hung for 5 s)');
  assert.equal(existsSync(file), false);
  await Promise.all(clients.map((c) => c.client.close().catch(() => undefined)));
});
