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
import { DRAIN_MS } from '../../core/mcp/stdioEndpoint.js';
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
  // A window first: that is where a person watches the sessions.
  const live = await coveringParticipants(await readDiscoveries(dir), workspace);
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
  return serve(
    {
      workspace,
      stdio: true,
      http: false,
      port: 0,
      label: 'session-coordinator connect (in-process)',
      ...(options.store ? { store: options.store } : {}),
    },
    logger,
  );
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
  // The agent's requests not answered yet: when its stdin ends they still get their answers (for at most DRAIN_MS).
  const awaiting = new Set<string | number>();
  let drained: (() => void) | undefined;
  // Until initialize is answered the upstream has no session id: what a fast client (a script) writes after it waits.
  let initialized = Promise.resolve();
  let initId: string | number | undefined;
  let initAnswered: (() => void) | undefined;
  downstream.onmessage = (message) => {
    const request = 'method' in message && 'id' in message ? message : undefined;
    if (request) awaiting.add(request.id);
    const send = (): void => {
      upstream.send(message).catch((e) => {
        // Our own close aborts what is still on the way: not an error of the participant's.
        if (ended) return;
        logger.error(`The participant at ${url} did not take a message: ${errorMessage(e)}`);
        void end('upstream failed', EXIT.failure);
      });
    };
    if (request?.method === 'initialize') {
      initId = request.id;
      initialized = new Promise((resolve) => (initAnswered = resolve));
      send();
    } else void initialized.then(send);
  };
  upstream.onmessage = (message) => {
    void downstream.send(message);
    if ('method' in message || !('id' in message) || message.id === undefined) return;
    if (message.id === initId) initAnswered?.();
    if (awaiting.delete(message.id) && awaiting.size === 0) drained?.();
  };
  upstream.onerror = (e) => {
    if (!ended) logger.warn(`Relay: ${errorMessage(e)}`);
  };
  const drainThenEnd = async (reason: string): Promise<void> => {
    if (awaiting.size > 0 && !ended) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        drained = resolve;
        timer = setTimeout(resolve, DRAIN_MS);
      });
      clearTimeout(timer);
    }
    await end(reason, EXIT.ok);
  };
  upstream.onclose = () => void end('the participant closed the connection', EXIT.failure);
  // Agents stop their MCP servers with a signal more often than by closing stdin (Claude Code does).
  const signals = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
  const onSignal = (signal: NodeJS.Signals): void => void end(signal, EXIT.ok);
  for (const signal of signals) process.once(signal, onSignal);
  process.stdin.once('end', () => void drainThenEnd('stdin ended'));
  process.stdin.once('close', () => void drainThenEnd('stdin closed'));
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
