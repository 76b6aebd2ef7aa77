import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Coordinator } from '../../core/coordinator.js';
import { installDir, loadOrCreateToken, writeDiscovery } from '../../core/install/installState.js';
import type { Logger } from '../../core/logging/logger.js';
import { HttpEndpoint } from '../../core/mcp/httpEndpoint.js';
import { McpHost } from '../../core/mcp/mcpHost.js';
import { serveStdio } from '../../core/mcp/stdioEndpoint.js';
import { FileStore } from '../../core/store/file/fileStore.js';
import { EXIT } from '../usage.js';

export interface ServeOptions {
  workspace: string;
  stdio: boolean;
  http: boolean;
  port: number;
  maxSessions?: number;
  maxPending?: number;
}

/** A headless participant: the coordinator with its MCP endpoints, until a signal or the stdio client ends it. */
export async function serve(options: ServeOptions, logger: Logger): Promise<number> {
  const workspace = path.resolve(options.workspace);
  const coordinator = new Coordinator({
    logger,
    allowedRoots: [workspace],
    label: `session-coordinator serve (pid ${process.pid})`,
    openStore: (projectRoot, metrics) => FileStore.open({ projectRoot, participant: { kind: 'headless', label: `headless pid ${process.pid}` }, metrics, logger }),
    options: {
      ...(options.maxSessions ? { sessions: { maxSessions: options.maxSessions } } : {}),
      ...(options.maxPending ? { requests: { maxPerSession: options.maxPending } } : {}),
    },
  });
  const health = await coordinator.start();
  if (health.status === 'error') {
    process.stderr.write(`session-coordinator: ${health.problems.join('; ')}\n`);
    await coordinator.dispose();
    return EXIT.failure;
  }
  const host = new McpHost(coordinator);
  host.start();
  let http: HttpEndpoint | undefined;
  let discoveryFile: string | undefined;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  let stopping = false;
  const stop = async (reason: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info(`Stopping: ${reason}`);
    if (discoveryFile) await fs.rm(discoveryFile, { force: true });
    await host.dispose();
    await http?.close();
    await coordinator.dispose();
    resolveDone(EXIT.ok);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));

  try {
    if (options.http) {
      const dir = installDir();
      const token = await loadOrCreateToken(dir);
      http = new HttpEndpoint(host, coordinator, { port: options.port, token, maxBodyBytes: 4 * 1024 * 1024 });
      const url = await http.listen();
      discoveryFile = await writeDiscovery(dir, { pid: process.pid, url, kind: 'headless', workspaceRoots: [workspace], startedAt: new Date().toISOString() });
      process.stderr.write(`Session Coordinator listening on ${url}\n`);
    }
    if (options.stdio) {
      await serveStdio(host, { stdin: process.stdin, stdout: process.stdout, onEnd: (reason) => void stop(reason) });
    }
  } catch (e) {
    // A half-started participant must not linger: a script waiting on it would wait forever.
    await stop('startup failed');
    throw e;
  }
  return done;
}
