import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { cliEnvWithoutToken, deadPid, escapeRegExp, runCliWith } from '../support/cliProcesses.js';
import { httpClient } from '../support/mcpClients.js';
import { cliEnv, startServe, type ServeHandle } from '../support/processes.js';
import { tempDir } from '../support/workspace.js';

const ws = tempDir();
const otherWs = tempDir();
const home = tempDir();
const CLIENT_NAME = `status-probe-${process.pid}`;
let server: ServeHandle;
let closeClient: (() => Promise<void>) | undefined;
let claimFile: ((resource: string) => Promise<void>) | undefined;
const cleanups: Array<() => Promise<unknown>> = [];

before(async () => {
  server = await startServe(ws.path, home.path);
  const { client } = await httpClient(server.url, CLIENT_NAME);
  closeClient = () => client.close();
  claimFile = async (resource) => {
    const r = await client.callTool({ name: 'claim_acquire', arguments: { resource } });
    assert.ok(!r.isError, JSON.stringify(r.content));
  };
});
after(async () => {
  await closeClient?.();
  await server?.stop();
  for (const c of cleanups) await c();
  await ws.remove();
  await otherWs.remove();
  await home.remove();
});

interface StatusJson {
  workspace: string;
  participants: Array<{
    participant: { pid: number; url: string; kind: string; workspaceRoots: string[] };
    snapshot?: {
      pid: number;
      health: { status: string };
      sessions: Array<{ id: string; client: { name: string; version: string }; transport: string; root: string; state: { kind: string } }>;
      metrics: Record<string, unknown>;
      claims: Array<{ resource: string; fencingToken: number; holder: { clientName: string; sessionId: string } }>;
    };
    error?: string;
  }>;
}

test('R-CLI-3: status --json lists the live serve with a snapshot: its sessions (with the connected client), health ok, and metrics', async () => {
  const res = await runCliWith(['status', '--json', '--workspace', ws.path], cliEnv(home.path));
  assert.equal(res.code, 0, res.stderr);
  assert.equal(res.stderr, '');
  const out = JSON.parse(res.stdout) as StatusJson;
  assert.equal(out.workspace, ws.path);
  assert.equal(out.participants.length, 1);
  const [p] = out.participants;
  assert.equal(p!.error, undefined, `participant reachable: ${p!.error}`);
  assert.equal(p!.participant.pid, server.child.pid);
  assert.equal(p!.participant.url, server.url);
  assert.equal(p!.participant.kind, 'headless');
  const snap = p!.snapshot!;
  assert.equal(snap.pid, server.child.pid);
  assert.deepEqual(snap.health, { status: 'ok' });
  const session = snap.sessions.find((s) => s.client.name === CLIENT_NAME);
  assert.ok(session, `the connected client's session is listed: ${JSON.stringify(snap.sessions.map((s) => s.client.name))}`);
  assert.equal(session.transport, 'http');
  assert.equal(session.root, ws.path);
  assert.equal(session.client.version, '1.0.0');
  assert.ok(
    typeof snap.metrics['sessions.total'] === 'number' && snap.metrics['sessions.total'] >= 1,
    `sessions.total: ${JSON.stringify(snap.metrics)}`,
  );
  assert.ok(typeof snap.metrics['sessions.active'] === 'number' && snap.metrics['sessions.active'] >= 1);
  assert.ok('requests.pending' in snap.metrics);
});

test('R-CLI-3: status (text) is readable: workspace, participant, health, and the session with its client name', async () => {
  const res = await runCliWith(['status', '--workspace', ws.path], cliEnv(home.path));
  assert.equal(res.code, 0, res.stderr);
  assert.equal(res.stderr, '');
  assert.throws(() => JSON.parse(res.stdout), SyntaxError, 'text for a person, not JSON');
  assert.match(res.stdout, new RegExp(`^Workspace ${escapeRegExp(ws.path)}: 1 live participant\\(s\\)$`, 'm'));
  assert.match(res.stdout, new RegExp(`^headless pid ${server.child.pid} at ${escapeRegExp(server.url)}$`, 'm'));
  assert.match(res.stdout, /^ {2}health: ok$/m);
  assert.match(res.stdout, /^ {2}sessions: [1-9]\d*$/m);
  const line = res.stdout.split('\n').find((l) => l.includes(CLIENT_NAME));
  assert.ok(line, `a line names the client:\n${res.stdout}`);
  assert.match(line, /\bhttp\b/);
  assert.match(line, /requests=\d+ pending=\d+/, 'with its request counts');
  assert.match(res.stdout, /sessions\.total=\d+/);
  assert.doesNotMatch(res.stdout, /undefined|\[object Object\]|NaN/, 'no leaked placeholders');
});

test("R-CLI-3, R-CLM-1: status lists the project's claims: the file, who holds it (client and session), until when, its fencing token (text and --json)", async () => {
  await claimFile!('src/status-claimed.ts');
  const text = await runCliWith(['status', '--workspace', ws.path], cliEnv(home.path));
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^ {2}claims: [1-9]\d*$/m);
  const line = text.stdout.split('\n').find((l) => l.includes('src/status-claimed.ts'));
  assert.ok(line, `a line names the claimed file:\n${text.stdout}`);
  assert.match(line, new RegExp(`held by ${escapeRegExp(CLIENT_NAME)}, session [0-9a-f-]{36}`));
  assert.match(line, /until \d{4}-\d\d-\d\dT[\d:.]+Z {2}fencing token \d+$/);
  const json = JSON.parse((await runCliWith(['status', '--json', '--workspace', ws.path], cliEnv(home.path))).stdout) as StatusJson;
  const claim = json.participants[0]?.snapshot?.claims.find((c) => c.resource === 'src/status-claimed.ts');
  assert.equal(claim?.holder.clientName, CLIENT_NAME);
  assert.ok(Number.isInteger(claim?.fencingToken));
});

test('R-CLI-3: status for a folder inside the served workspace finds the participant; an unrelated folder does not', async () => {
  const sub = path.join(ws.path, 'pkg', 'inner');
  mkdirSync(sub, { recursive: true });
  const inside = await runCliWith(['status', '--json', '--workspace', sub], cliEnv(home.path));
  assert.equal(inside.code, 0, inside.stderr);
  assert.equal((JSON.parse(inside.stdout) as StatusJson).participants[0]?.participant.pid, server.child.pid);
  const unrelated = await runCliWith(['status', '--json', '--workspace', otherWs.path], cliEnv(home.path));
  assert.equal(unrelated.code, 3);
  assert.deepEqual((JSON.parse(unrelated.stdout) as StatusJson).participants, []);
});

test('R-CLI-3: status --workspace defaults to the current folder', async () => {
  const res = await runCliWith(['status', '--json'], cliEnv(home.path), { cwd: ws.path });
  assert.equal(res.code, 0, res.stderr);
  const out = JSON.parse(res.stdout) as StatusJson;
  assert.equal(out.workspace, ws.path);
  assert.equal(out.participants[0]?.participant.pid, server.child.pid);
});

test('R-CLI-3: with no live participant, status prints a hint to start one and exits 3 (text and --json)', async () => {
  const empty = tempDir('sc-cli-home-');
  cleanups.push(() => empty.remove());
  const text = await runCliWith(['status', '--workspace', ws.path], cliEnv(empty.path));
  assert.equal(text.code, 3);
  assert.match(text.stdout, /No live participant/);
  // With the install it looked in: a serve started without it would register elsewhere and still not be found.
  assert.ok(text.stdout.includes(`serve --workspace ${ws.path} --home ${empty.path}\n`), `the hint says how to start one:\n${text.stdout}`);
  const json = await runCliWith(['status', '--json', '--workspace', ws.path], cliEnv(empty.path));
  assert.equal(json.code, 3);
  assert.deepEqual(JSON.parse(json.stdout), { workspace: ws.path, participants: [] });
  assert.equal(existsSync(path.join(empty.path, 'token')), false, 'status with nothing to ask creates no token');
});

test('R-CLI-3: status for a folder that does not exist (or a file) says so and exits 2, with no hint to serve it', async () => {
  const missing = path.join(ws.path, 'no-such-folder');
  const file = path.join(ws.path, 'a-file.txt');
  writeFileSync(file, 'x');
  for (const [target, why] of [
    [missing, /is not a folder \(it does not exist\)/],
    [file, /is not a folder: status needs/],
  ] as const) {
    for (const json of [[], ['--json']]) {
      const res = await runCliWith(['status', ...json, '--workspace', target], cliEnv(home.path));
      assert.equal(res.code, 2, res.stderr);
      assert.match(res.stderr, why);
      assert.ok(res.stderr.includes(target), res.stderr);
      assert.doesNotMatch(res.stdout + res.stderr, /serve --workspace/);
    }
  }
});

test('R-CLI-3: a stale discovery file (dead pid) and a corrupt one are swept by status, and the live participant is still listed', async () => {
  const dir = path.join(home.path, 'participants');
  const pid = await deadPid();
  const stale = path.join(dir, `${pid}.json`);
  writeFileSync(
    stale,
    JSON.stringify({
      pid,
      url: 'http://127.0.0.1:1/mcp',
      kind: 'headless',
      workspaceRoots: [ws.path],
      startedAt: new Date().toISOString(),
    }),
    { mode: 0o600 },
  );
  const corrupt = path.join(dir, '999999999.json');
  writeFileSync(corrupt, '{ not json', { mode: 0o600 });
  const res = await runCliWith(['status', '--json', '--workspace', ws.path], cliEnv(home.path));
  assert.equal(res.code, 0, res.stderr);
  const out = JSON.parse(res.stdout) as StatusJson;
  assert.deepEqual(
    out.participants.map((p) => p.participant.pid),
    [server.child.pid],
    'only the live one is listed',
  );
  assert.equal(existsSync(stale), false, 'stale file swept');
  assert.equal(existsSync(corrupt), false, 'corrupt file swept');
  assert.deepEqual(readdirSync(dir), [`${server.child.pid}.json`]);
});

test('R-CLI-3: with only a stale discovery file, status sweeps it and exits 3', async () => {
  const lone = tempDir('sc-cli-home-');
  cleanups.push(() => lone.remove());
  const dir = path.join(lone.path, 'participants');
  mkdirSync(dir, { mode: 0o700 });
  const pid = await deadPid();
  const stale = path.join(dir, `${pid}.json`);
  writeFileSync(
    stale,
    JSON.stringify({
      pid,
      url: 'http://127.0.0.1:1/mcp',
      kind: 'headless',
      workspaceRoots: [ws.path],
      startedAt: new Date().toISOString(),
    }),
    { mode: 0o600 },
  );
  const res = await runCliWith(['status', '--workspace', ws.path], cliEnv(lone.path));
  assert.equal(res.code, 3, res.stdout + res.stderr);
  assert.match(res.stdout, /No live participant/);
  assert.equal(existsSync(stale), false);
});

test('R-CLI-3: status reads the install token file when SESSION_COORDINATOR_TOKEN is not set (serve and status agree without any env token)', async () => {
  const install = tempDir('sc-cli-home-');
  cleanups.push(() => install.remove());
  const own = await startServe(ws.path, install.path, [], { SESSION_COORDINATOR_TOKEN: undefined });
  cleanups.unshift(() => own.stop());
  const res = await runCliWith(['status', '--json', '--workspace', ws.path], cliEnvWithoutToken(install.path));
  assert.equal(res.code, 0, res.stderr);
  const [p] = (JSON.parse(res.stdout) as StatusJson).participants;
  assert.equal(p?.participant.pid, own.child.pid);
  assert.equal(p?.error, undefined, `status could authenticate: ${p?.error}`);
  assert.deepEqual(p?.snapshot?.health, { status: 'ok' });
});
