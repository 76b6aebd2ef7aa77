import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { Client as McpClient } from '@modelcontextprotocol/sdk/client/index.js';
import { CLI, cliEnv, REPO, TOKEN } from './processes.js';

/** A relayed stdio agent (`connect`), as Claude Code starts one, with the agent's own env. */
export async function relayAgent(
  ws: string,
  home: string,
  env: Record<string, string> = {},
  name = 'relayed-agent',
): Promise<{ client: Client; transport: StdioClientTransport; pid: number }> {
  const client = new McpClient({ name, version: '1' });
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'connect', '--workspace', ws],
    env: cliEnv(home, env) as Record<string, string>,
    stderr: 'pipe',
  });
  await client.connect(transport);
  return { client, transport, pid: transport.pid! };
}

/** An HTTP agent in a process of its own, holding a claim on `resource`, ready to be killed. */
export function killableHttpAgent(url: string, resource: string): Promise<{ child: ChildProcess; sessionId: string }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(REPO, 'test', 'support', 'httpAgentWorker.ts'), url, TOKEN, resource],
    { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the HTTP agent did not get ready:\n${err}`)), 15_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /ready (\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve({ child, sessionId: m[1] });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the HTTP agent exited with ${code}:\n${err}`));
    });
  });
}

/**
 * Milliseconds from `since` until `client` is granted `resource` (polling every 10 ms):
 * how long a dead agent's claim outlives it.
 */
export async function msUntilGranted(client: Client, resource: string, since: number, timeoutMs: number): Promise<number> {
  for (;;) {
    const r = await client.callTool({ name: 'claim_acquire', arguments: { resource, ttlSeconds: 60 } });
    if (!r.isError) {
      const { fencingToken } = r.structuredContent as { fencingToken: number };
      await client.callTool({ name: 'claim_release', arguments: { resource, fencingToken } });
      return Date.now() - since;
    }
    if (Date.now() - since > timeoutMs) return Infinity;
    await new Promise((r) => setTimeout(r, 10));
  }
}
