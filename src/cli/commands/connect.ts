import * as path from 'node:path';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { AGENT_HEADER, agentFromEnv, formatAgentHeader } from '../../core/agents/agentIdentity.js';
import { withTimeout } from '../../core/concurrency/withTimeout.js';
import { errorMessage } from '../../core/errors.js';
import { coveringParticipants, installDir, loadOrCreateToken, readDiscoveries } from '../../core/install/installState.js';
import { provePeer } from '../../core/install/peerProof.js';
import type { Logger } from '../../core/logging/logger.js';
import { RELAY_HEADER } from '../../core/mcp/httpEndpoint.js';
import { EXIT } from '../usage.js';
import { serve } from './serve.js';

/**
 * The stdio endpoint for agents that only speak stdio (R-CLI-2): relays to
 * a live participant of the workspace (a window or a headless server), so
 * the agent's session lives where the person is looking; with none live, it
 * runs a participant of its own.
 */
export async function connect(options: { workspace: string; store?: string }, logger: Logger): Promise<number> {
  const workspace = path.resolve(options.workspace);
  const dir = installDir();
  const live = await coveringParticipants(await readDiscoveries(dir), workspace);
  // Prefer a window: that is where a person watches the sessions.
  live.sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'window' ? -1 : 1));
  const token = live.length > 0 ? await loadOrCreateToken(dir) : '';
  for (const target of live) {
    try {
      await provePeer(target.url, token);
    } catch (e) {
      logger.warn(errorMessage(e));
      continue;
    }
    logger.info(`Relaying stdio to ${target.kind} pid ${target.pid} at ${target.url}`);
    return relay(target.url, token, logger);
  }
  logger.info(`No live participant for ${workspace}; serving in this process`);
  return serve({ workspace, stdio: true, http: false, port: 0, ...(options.store ? { store: options.store } : {}) }, logger);
}

async function relay(url: string, token: string, logger: Logger): Promise<number> {
  // The participant trusts the agent's name only because this request carries the token.
  const agent = agentFromEnv(process.env);
  const headers: Record<string, string> = {
    Authorization: `Bearer ${token}`,
    [RELAY_HEADER]: 'stdio',
    ...(agent ? { [AGENT_HEADER]: formatAgentHeader(agent) } : {}),
  };
  const upstream = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  const downstream = new StdioServerTransport(process.stdin, process.stdout);
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  let ended = false;
  const end = async (reason: string, code: number): Promise<void> => {
    if (ended) return;
    ended = true;
    logger.info(`Relay ending: ${reason}`);
    // The agent went away: end its session now rather than at the TTL. A hung participant gets
    // a second; after that it sees our stream drop and ends the session itself.
    if (code === EXIT.ok) await withTimeout(upstream.terminateSession(), 1_000).catch(() => undefined);
    await upstream.close().catch(() => undefined);
    await downstream.close().catch(() => undefined);
    resolveDone(code);
  };
  downstream.onmessage = (message) => {
    upstream.send(message).catch((e) => {
      logger.error(`The participant at ${url} did not take a message: ${errorMessage(e)}`);
      void end('upstream failed', EXIT.failure);
    });
  };
  upstream.onmessage = (message) => void downstream.send(message);
  upstream.onerror = (e) => logger.warn(`Relay: ${errorMessage(e)}`);
  upstream.onclose = () => void end('the participant closed the connection', EXIT.failure);
  // Agents stop their MCP servers with a signal more often than by closing stdin (Claude Code does).
  const signals = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
  const onSignal = (signal: NodeJS.Signals): void => void end(signal, EXIT.ok);
  for (const signal of signals) process.once(signal, onSignal);
  process.stdin.once('end', () => void end('stdin ended', EXIT.ok));
  process.stdin.once('close', () => void end('stdin closed', EXIT.ok));
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid !== parent) void end(`parent process ${parent} exited`, EXIT.ok);
  }, 500);
  watch.unref();
  await upstream.start();
  await downstream.start();
  return done.finally(() => {
    clearInterval(watch);
    for (const signal of signals) process.off(signal, onSignal);
  });
}
