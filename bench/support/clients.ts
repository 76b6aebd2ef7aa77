import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { drain } from './processes.js';

export interface HttpConn {
  client: Client;
  transport: StreamableHTTPClientTransport;
}

export function newHttpConn(url: string, token: string | undefined, name = 'bench-http'): HttpConn {
  const client = new Client({ name, version: '1.0.0' });
  const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  return { client, transport };
}

export async function openHttp(url: string, token: string | undefined, name?: string): Promise<HttpConn> {
  const conn = newHttpConn(url, token, name);
  await conn.client.connect(conn.transport);
  return conn;
}

/** Ends the session the way a well-behaved client does: DELETE, then close. */
export async function closeHttp(conn: HttpConn): Promise<void> {
  await conn.transport.terminateSession();
  await conn.client.close();
}

export interface StdioConn {
  client: Client;
  transport: StdioClientTransport;
  stderrTail: () => string;
}

export async function openStdio(command: string, args: string[], env: Record<string, string>, cwd: string): Promise<StdioConn> {
  const client = new Client({ name: 'bench-stdio', version: '1.0.0' });
  const transport = new StdioClientTransport({ command, args, env, cwd, stderr: 'pipe' });
  const stderrTail = drain(transport.stderr);
  try {
    await client.connect(transport);
  } catch (e) {
    throw new Error(`stdio server ${args.join(' ')} failed to start: ${String(e)}\n${stderrTail()}`);
  }
  return { client, transport, stderrTail };
}

/** One whoami call; throws unless it answered with structured content. */
export async function whoami(client: Client): Promise<Record<string, unknown>> {
  const result = await client.callTool({ name: 'whoami', arguments: {} });
  if (result.isError || !result.structuredContent) throw new Error(`whoami failed: ${JSON.stringify(result.content)}`);
  return result.structuredContent as Record<string, unknown>;
}
