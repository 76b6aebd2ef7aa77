import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { after, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { httpClient, whoami } from '../../support/mcpClients.js';
import { CLI, cliEnv, stopChild } from '../../support/processes.js';
import { tempDir } from '../../support/workspace.js';

const ws = tempDir();
const home = tempDir();
after(async () => {
  await ws.remove();
  await home.remove();
});

test('R-MCP-1: stdio and Streamable HTTP are served by one process at the same time, into one coordinator', async () => {
  const stdio = new Client({ name: 'over-stdio', version: '1' });
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'serve', '--stdio', '--http', '--workspace', ws.path],
    env: cliEnv(home.path) as Record<string, string>,
    stderr: 'pipe',
  });
  let err = '';
  const url = new Promise<string>((resolve) => {
    transport.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /listening on (\S+)/.exec(err);
      if (m?.[1]) resolve(m[1]);
    });
  });
  await stdio.connect(transport);
  const clients = await Promise.all(Array.from({ length: 5 }, async (_, i) => httpClient(await url, `http-${i}`)));
  const [viaStdio, ...viaHttp] = await Promise.all([whoami(stdio), ...clients.map((c) => whoami(c.client))]);
  assert.equal(viaStdio!.transport, 'stdio');
  assert.ok(
    viaHttp.every((w) => w.transport === 'http' && w.pid === viaStdio!.pid),
    'one process',
  );
  assert.equal(new Set([viaStdio!.sessionId, ...viaHttp.map((w) => w.sessionId)]).size, 6, 'six distinct sessions');
  const peersSeenOverHttp = (await whoami(clients[0]!.client)).peers;
  assert.ok(
    peersSeenOverHttp.some((p) => p.transport === 'stdio' && p.client.name === 'over-stdio'),
    'HTTP sees the stdio session: one coordinator',
  );
  await Promise.all(clients.map((c) => c.client.close()));
  await stdio.close();
});

test('R-MCP-1: when stdin closes the stdio server exits within a second (SDK issue #2002)', async () => {
  const child = spawn(process.execPath, [CLI, 'serve', '--stdio', '--workspace', ws.path], {
    env: cliEnv(home.path),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const init = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
  });
  child.stdin.write(init + '\n');
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  const closedAt = Date.now();
  child.stdin.end();
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const took = Date.now() - closedAt;
  assert.equal(code, 0);
  assert.ok(took < 1000, `exited ${took} ms after stdin closed`);
});

test('R-MCP-1: 100 stdio parents killed with SIGKILL leave zero orphaned servers after 5 s', async () => {
  const marker = `orphan-check-${process.pid}-${Date.now()}`;
  // Each parent starts a real stdio server as its child (as an agent does), then is killed with SIGKILL.
  const parentScript = `
    const { spawn } = require('node:child_process');
    const c = spawn(process.execPath, [${JSON.stringify(CLI)}, 'serve', '--stdio', '--workspace', ${JSON.stringify(ws.path)}, '--log-level', 'error'], { stdio: ['pipe', 'pipe', 'inherit'], env: process.env });
    c.stdout.once('data', () => process.stdout.write('ready ' + c.pid + '\\n'));
    c.stdin.write(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: '${marker}', version: '1' } } }) + '\\n');
    setInterval(() => {}, 1000);`;
  const childPids: number[] = [];
  const batch = 20;
  for (let round = 0; round < 100 / batch; round++) {
    const parents = Array.from({ length: batch }, () =>
      spawn(process.execPath, ['-e', parentScript, marker], { env: cliEnv(home.path), stdio: ['ignore', 'pipe', 'inherit'] }),
    );
    await Promise.all(
      parents.map(
        (p) =>
          new Promise<void>((resolve, reject) => {
            const t = setTimeout(() => reject(new Error('a parent never reported its server ready')), 20_000);
            p.stdout!.once('data', (d: Buffer) => {
              clearTimeout(t);
              childPids.push(Number(/ready (\d+)/.exec(d.toString())![1]));
              resolve();
            });
          }),
      ),
    );
    await Promise.all(parents.map((p) => stopChild(p, 'SIGKILL')));
  }
  assert.equal(childPids.length, 100);
  await new Promise((r) => setTimeout(r, 5000));
  const alive = childPids.filter((pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  });
  if (alive.length > 0) spawnSync('kill', ['-9', ...alive.map(String)]);
  assert.deepEqual(alive, [], 'every server ended when its parent died');
});
