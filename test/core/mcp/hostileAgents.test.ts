import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { startServe, TOKEN, type ServeHandle } from '../../support/processes.js';
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

async function metric(name: string): Promise<number> {
  const res = await fetch(server.url.replace(/\/mcp$/, '/status'), { headers: { Authorization: `Bearer ${TOKEN}` } });
  const value = ((await res.json()) as { metrics: Record<string, unknown> }).metrics[name];
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
  await flood(ROUNDS);
  assert.equal(await metric('mcp.connections'), connectionsBefore, 'every refused initialize closed its connection');
  assert.equal(await metric('http.sessions'), sessionsBefore);
  const grown = rssMb(pid) - rssBefore;
  // Before the fix each refusal kept its McpServer: 3,000 of them grew the process by ~150 MB.
  assert.ok(grown < 25, `serve grew by ${grown.toFixed(1)} MB over ${ROUNDS} refused initializes`);
  // And a well-behaved agent still gets in.
  const ok = await post(server.url, initializeBody(1, 'after-the-flood'));
  assert.equal(ok.status, 200, ok.text);
  assert.ok(ok.headers.get('mcp-session-id'), 'a session id for the good client');
});
