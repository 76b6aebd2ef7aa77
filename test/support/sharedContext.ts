import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { httpClient } from './mcpClients.js';
import { startServe, type ServeHandle } from './processes.js';
import { tempDir } from './workspace.js';

/** A tool result as the SDK client hands it back, narrowed to what these tests read. */
export interface ToolResult {
  isError?: boolean;
  content: Array<{ type: string; text?: string }>;
  structuredContent?: Record<string, unknown>;
}

export interface Agent {
  readonly name: string;
  readonly client: Client;
  readonly transport: StreamableHTTPClientTransport;
}

/**
 * One workspace shared by several `serve --http` processes (several windows
 * or headless agents on one project), each with its own SDK clients.
 */
export interface SharedWorkspace {
  readonly path: string;
  readonly home: string;
  readonly servers: ServeHandle[];
  /** Starts one more participant on the same workspace; stopped by close(). */
  addServer(): Promise<ServeHandle>;
  /** A real SDK client on servers[index], named `name` (the client name claims report). */
  connect(index: number, name: string): Promise<Agent>;
  /** Closes every client, stops every process still running, removes the folders. */
  close(): Promise<void>;
}

export async function sharedWorkspace(processes: number): Promise<SharedWorkspace> {
  const ws = tempDir('sc-shared-ws-');
  const home = tempDir('sc-shared-home-');
  const servers: ServeHandle[] = [];
  const agents: Agent[] = [];
  const addServer = async (): Promise<ServeHandle> => {
    const s = await startServe(ws.path, home.path, ['--max-sessions', '200']);
    servers.push(s);
    return s;
  };
  try {
    await Promise.all(Array.from({ length: processes }, () => addServer()));
  } catch (e) {
    await Promise.all(servers.map((s) => stopWithin(s.child, 5000)));
    throw e;
  }
  return {
    path: ws.path,
    home: home.path,
    servers,
    addServer,
    async connect(index, name) {
      const server = servers[index];
      assert.ok(server, `no serve process #${index}`);
      const { client, transport } = await httpClient(server.url, name);
      const agent = { name, client, transport };
      agents.push(agent);
      return agent;
    },
    async close() {
      await Promise.all(agents.map((a) => a.client.close().catch(() => undefined)));
      const hung = (await Promise.all(servers.map((s) => stopWithin(s.child, 5000)))).filter((r) => r === 'hung').length;
      await ws.remove();
      await home.remove();
      assert.equal(hung, 0, `${hung} serve process(es) did not exit within 5 s of SIGTERM and were killed`);
    },
  };
}

/** SIGTERM, then SIGKILL if the process has not exited within ms; 'hung' when it had to be killed. */
export function stopWithin(child: ChildProcess, ms: number): Promise<number | null | 'hung'> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve('hung');
    }, ms);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    child.kill('SIGTERM');
  });
}

/** Kills with SIGKILL and waits until the OS has reaped the process. */
export function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** Clients that have listed the tools: the SDK client checks a result against its tool's output schema only once listed. */
const listed = new WeakSet<Client>();

export async function call(client: Client, name: string, args: Record<string, unknown> = {}): Promise<ToolResult> {
  // Every call made here is checked by the SDK client itself, as an agent's client checks it.
  if (!listed.has(client)) {
    listed.add(client);
    await client.listTools();
  }
  return (await client.callTool({ name, arguments: args })) as unknown as ToolResult;
}

export function textOf(result: ToolResult): string {
  return result.content.map((c) => c.text ?? '').join('\n');
}

/** Calls a tool that must succeed; returns its structuredContent (after checking the text says the same). */
export async function callOk<T = Record<string, unknown>>(client: Client, name: string, args: Record<string, unknown> = {}): Promise<T> {
  const result = await call(client, name, args);
  assert.notEqual(result.isError, true, `${name}(${JSON.stringify(args)}) failed: ${textOf(result)}`);
  assert.ok(result.structuredContent, `${name} returned no structuredContent`);
  assert.deepEqual(JSON.parse(textOf(result)), result.structuredContent, `${name}: the text content and structuredContent disagree`);
  return result.structuredContent as T;
}

/** Calls a tool that must be refused with an isError result; returns the text an agent would read. */
export async function callRefused(client: Client, name: string, args: Record<string, unknown> = {}): Promise<string> {
  const result = await call(client, name, args);
  assert.equal(
    result.isError,
    true,
    `${name}(${JSON.stringify(args)}) should have been refused, got ${JSON.stringify(result.structuredContent ?? result.content)}`,
  );
  const text = textOf(result);
  assert.ok(text.length > 0, `${name}: a refusal with no text`);
  return text;
}

export interface ClaimView {
  resource: string;
  fencingToken: number;
  expiresAt: string;
  holder: { sessionId: string; clientName: string; participantId: string };
}

/**
 * Records every notifications/resources/updated a client receives (the SDK
 * allows one handler per method, so set it once per client).
 */
export function resourceUpdates(client: Client): {
  readonly received: Array<{ uri: string; at: number }>;
  next(uri: string, since: number, timeoutMs: number): Promise<number>;
} {
  const received: Array<{ uri: string; at: number }> = [];
  const waiters = new Set<() => void>();
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
    received.push({ uri: n.params.uri, at: Date.now() });
    for (const w of waiters) w();
  });
  return {
    received,
    /** Resolves with the ms from `since` to the first update of `uri` received at or after `since`; rejects after timeoutMs. */
    next(uri, since, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const hit = received.find((r) => r.uri === uri && r.at >= since);
          if (!hit) return false;
          clearTimeout(timer);
          waiters.delete(onUpdate);
          resolve(hit.at - since);
          return true;
        };
        const onUpdate = (): void => void check();
        const timer = setTimeout(() => {
          waiters.delete(onUpdate);
          reject(
            new Error(
              `no notifications/resources/updated for ${uri} within ${timeoutMs} ms; received: ${JSON.stringify(received.map((r) => r.uri))}`,
            ),
          );
        }, timeoutMs);
        waiters.add(onUpdate);
        check();
      });
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
