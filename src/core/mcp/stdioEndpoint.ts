import { randomUUID } from 'node:crypto';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { AgentIdentity } from '../agents/agentIdentity.js';
import type { Connection } from './connection.js';
import type { McpHost } from './mcpHost.js';

export interface StdioEndpointOptions {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  /** Called once when the client is gone: stdin ended, stdout broke, or the parent died. */
  onEnd: (reason: string) => void;
  parentCheckMs?: number;
  /** The agent that started this process, from its environment. */
  agent?: AgentIdentity;
}

/** How long the requests read before stdin ended may take to answer before the session ends anyway. */
export const DRAIN_MS = 2_000;

/**
 * MCP over stdio. The SDK's transport ignores stdin closing (SDK issue
 * #2002), so a server whose client died would live on: we end when stdin
 * ends, when stdout breaks, or when we are re-parented.
 */
export async function serveStdio(host: McpHost, options: StdioEndpointOptions): Promise<Connection> {
  const transport = new StdioServerTransport(options.stdin as never, options.stdout as never);
  const connection = await host.attach(transport, 'stdio', randomUUID(), options.agent);
  let ended = false;
  const end = (reason: string): void => {
    if (ended) return;
    ended = true;
    clearInterval(parentWatch);
    void connection.close().finally(() => options.onEnd(reason));
  };
  // A client that writes its requests and closes stdin (a script: `printf ... | serve --stdio`) still gets its
  // answers: the requests already read finish first, for at most DRAIN_MS.
  const drainThenEnd = (reason: string): void => {
    const until = Date.now() + DRAIN_MS;
    const check = (): void => {
      if (connection.inflightCount === 0 || Date.now() >= until) end(reason);
      else setTimeout(check, 10);
    };
    check();
  };
  options.stdin.once('end', () => drainThenEnd('stdin ended'));
  options.stdin.once('close', () => drainThenEnd('stdin closed'));
  options.stdout.once('error', () => end('stdout broke'));
  const parent = process.ppid;
  const parentWatch = setInterval(() => {
    if (process.ppid !== parent) end(`parent process ${parent} exited`);
  }, options.parentCheckMs ?? 500);
  parentWatch.unref();
  return connection;
}
