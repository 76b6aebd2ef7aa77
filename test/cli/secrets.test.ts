import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { redactRedisUrl } from '../../src/core/store/redis/redisUrl.js';
import { modeOf, runCliWith } from '../support/cliProcesses.js';
import { cliEnv, startServe, type ServeHandle } from '../support/processes.js';
import { tempDir } from '../support/workspace.js';

/**
 * Secrets stay secret (R-SEC-5): passwords redacted whatever their
 * characters, tokens long enough, the install folder and token file private
 * and our own. Real `serve` processes, real files and modes.
 */

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

function folder(prefix: string): string {
  const t = tempDir(prefix);
  cleanup.push(t.remove);
  return t.path;
}

test('R-SEC-5: a store password is redacted from URLs whatever characters it holds', () => {
  for (const [url, shown] of [
    ['redis://user:s3cret@h:1/0', 'redis://h:1/0'],
    ['redis://:p@ss@host:6379/0', 'redis://host:6379/0'],
    ['redis://:pa/ss@host/0', 'redis://host/0'],
    ['rediss://team:a@b/c@d:e@cache.example:6380/2', 'rediss://cache.example:6380/2'],
    ['redis://host:6379/0', 'redis://host:6379/0'],
    [':p@ss@host', 'host'],
  ] as const) {
    assert.equal(redactRedisUrl(url), shown, url);
  }
});

test('R-SEC-5: serve with a password holding "@" and "/" never writes any part of it, in its log or its errors', async () => {
  const ws = folder('sc-ws-');
  const home = folder('sc-home-');
  // An unreachable Redis: the store opens degraded and says why, naming the URL.
  const server: ServeHandle = await startServe(ws, home, ['--store', 'redis://:pa/ss@w0rd@127.0.0.1:1/0']);
  cleanup.push(() => server.stop());
  const status = await runCliWith(['status'], cliEnv(home), { cwd: ws, timeoutMs: 15_000 });
  const everything = server.stderr() + status.stdout + status.stderr;
  assert.match(everything, /127\.0\.0\.1:1/, 'the store is named');
  for (const piece of ['pa/ss', 'ss@w0rd', 'w0rd@']) assert.ok(!everything.includes(piece), `${piece} leaked:\n${everything}`);
});

test('R-SEC-5: a SESSION_COORDINATOR_TOKEN under 32 characters is refused with a clear message', async () => {
  const ws = folder('sc-ws-');
  const home = folder('sc-home-');
  const run = await runCliWith(['serve', '--http', '--workspace', ws], cliEnv(home, { SESSION_COORDINATOR_TOKEN: 'x' }), {
    timeoutMs: 15_000,
  });
  assert.notEqual(run.code, 0);
  assert.match(run.stderr, /SESSION_COORDINATOR_TOKEN is 1 characters; a token needs at least 32/);
  assert.doesNotMatch(run.stderr, /listening on/);
});

test('R-SEC-5: an install folder left at 0755 is tightened to 0700; a token file that is a symlink is refused, not followed', async () => {
  const ws = folder('sc-ws-');
  const install = path.join(folder('sc-home-'), 'install');
  mkdirSync(install, { mode: 0o755 });
  chmodSync(install, 0o755);
  const noToken = { SESSION_COORDINATOR_TOKEN: undefined };
  const server = await startServe(ws, install, [], noToken);
  await server.stop();
  assert.equal(modeOf(install).toString(8), '700', 'the folder holding the token is private');
  assert.equal(modeOf(path.join(install, 'token')).toString(8), '600');

  const elsewhere = path.join(folder('sc-elsewhere-'), 'planted-token');
  writeFileSync(elsewhere, 'a-token-someone-else-chose-0123456789abcdef\n');
  const linked = path.join(folder('sc-home-'), 'install');
  mkdirSync(linked, { mode: 0o700 });
  symlinkSync(elsewhere, path.join(linked, 'token'));
  const run = await runCliWith(
    ['serve', '--http', '--workspace', ws],
    { ...cliEnv(linked), SESSION_COORDINATOR_TOKEN: '' },
    { timeoutMs: 15_000 },
  );
  assert.notEqual(run.code, 0);
  assert.match(run.stderr, /token is a symlink; the token is read only from a plain file/);
});

interface Seen {
  method: string;
  path: string;
  authorization?: string;
}

/** A process on a port a stale discovery file names: it records what clients send it. */
async function trap(host: string): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({
      method: req.method ?? '',
      path: req.url ?? '',
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    });
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ proof: 'ab'.repeat(32) }));
  });
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
  const { port } = server.address() as AddressInfo;
  return { url: `http://${host}:${port}/mcp`, seen, close: () => new Promise((r) => server.close(() => r())) };
}

function plantDiscovery(home: string, pid: number, url: string, ws: string, startedAt = new Date().toISOString()): string {
  const dir = path.join(home, 'participants');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, `${pid}.json`);
  writeFileSync(file, JSON.stringify({ pid, url, kind: 'window', workspaceRoots: [ws], startedAt }));
  return file;
}

test('R-SEC-5: connect, status and the edit hook send the token only to a peer on loopback that proves it holds it', async () => {
  const ws = folder('sc-ws-');
  const home = folder('sc-home-');
  chmodSync(home, 0o700);
  const impostor = await trap('127.0.0.1');
  cleanup.push(impostor.close);
  // A live pid that started before the file was written (this test's own process): only the proof can tell.
  plantDiscovery(home, process.pid, impostor.url, ws);
  const env = cliEnv(home);

  const status = await runCliWith(['status', '--workspace', ws], env, { timeoutMs: 15_000 });
  assert.match(status.stdout, /did not prove it is a participant of this install \(a wrong proof\); the token was not sent/);
  const edit = JSON.stringify({
    session_id: 'agent-1',
    cwd: ws,
    hook_event_name: 'PreToolUse',
    tool_name: 'Write',
    tool_input: { file_path: path.join(ws, 'a.ts'), content: 'x' },
  });
  const hook = await runCliWith(['hook', 'claude-code'], env, { stdin: edit, timeoutMs: 15_000 });
  assert.equal(hook.code, 0, `decided over the store instead: ${hook.stderr}`);
  const connect = await runCliWith(['connect', '--workspace', ws], env, { stdin: '', timeoutMs: 15_000 });
  assert.match(connect.stderr, /did not prove it is a participant/);

  assert.ok(impostor.seen.length >= 3, 'each client asked for a proof');
  assert.ok(
    impostor.seen.every((r) => r.method === 'GET' && r.path.startsWith('/proof?nonce=')),
    JSON.stringify(impostor.seen),
  );
  assert.deepEqual(
    impostor.seen.filter((r) => r.authorization),
    [],
    'the token reached the impostor',
  );
});

test('R-SEC-5: a discovery file naming a non-loopback address, or a pid reused by a later process, is never contacted', async () => {
  const ws = folder('sc-ws-');
  const home = folder('sc-home-');
  const remote = await trap('127.0.0.2');
  cleanup.push(remote.close);
  plantDiscovery(home, process.pid, remote.url, ws);
  const local = await trap('127.0.0.1');
  cleanup.push(local.close);
  // A process started now, named by a file written an hour ago: the participant died and its pid came back.
  const reused = spawn('sleep', ['30'], { stdio: 'ignore' });
  cleanup.push(async () => reused.kill());
  const stale = plantDiscovery(home, reused.pid!, local.url, ws, new Date(Date.now() - 3_600_000).toISOString());

  const status = await runCliWith(['status', '--workspace', ws], cliEnv(home), { timeoutMs: 15_000 });
  assert.match(status.stdout, /No live participant/);
  assert.deepEqual([remote.seen, local.seen], [[], []]);
  assert.equal(existsSync(stale), true, 'passed over, not deleted: a wall clock stepped back must not sweep a live participant');
  reused.kill();
  await new Promise((r) => reused.once('exit', r));
  await runCliWith(['status', '--workspace', ws], cliEnv(home), { timeoutMs: 15_000 });
  assert.equal(existsSync(stale), false, 'swept once its pid is gone');
});
