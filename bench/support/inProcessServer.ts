// OUR server, assembled by src/core's Participant exactly as `serve --http`
// does it (Coordinator + FileStore + McpHost + HttpEndpoint + discovery file),
// in a child process started with --expose-gc so the bench can read its heap.
// Prints "Session Coordinator listening on <url>" on stderr like `serve`;
// answers {cmd:'heap'} over IPC with heapUsed after gc() and the sizes of
// every per-session map.
import * as v8 from 'node:v8';
import { installDir } from '../../src/core/install/installState.js';
import { StreamLogger } from '../../src/core/logging/logger.js';
import { Participant } from '../../src/core/participant.js';

export interface HeapReport {
  heapUsed: number;
  /** heapUsed by V8 space (old_space, code_space, ...): JIT code growth is not a leak. */
  spaces: Record<string, number>;
  openTransports: number;
  sessions: number;
  requests: number;
  requestSessions: number;
  connections: number;
  locks: number;
}

async function main(): Promise<void> {
  const workspace = process.argv[2];
  const token = process.env.SESSION_COORDINATOR_TOKEN;
  if (!workspace || !token) throw new Error('usage: inProcessServer <workspace> (with SESSION_COORDINATOR_TOKEN set)');
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('start with --expose-gc');
  const participant = await Participant.start({
    kind: 'headless',
    label: `headless pid ${process.pid}`,
    workspaceRoots: [workspace],
    logger: new StreamLogger(process.stderr, 'info'),
    http: { port: 0, token, installDir: installDir() },
  });
  const { coordinator, host, http } = participant;
  const health = coordinator.health();
  if (health.status === 'error' || !http) throw new Error(health.status === 'error' ? health.problems.join('; ') : 'no HTTP endpoint');
  process.stderr.write(`Session Coordinator listening on ${http.url}\n`);

  process.on('message', (msg: { cmd: string }) => {
    if (msg.cmd !== 'heap') return;
    void (async () => {
      // Several full collections with turns of the loop between them, so finalizers and weak maps settle.
      for (let i = 0; i < 4; i++) {
        gc();
        await new Promise((r) => setImmediate(r));
      }
      const report: HeapReport = {
        heapUsed: process.memoryUsage().heapUsed,
        spaces: Object.fromEntries(v8.getHeapSpaceStatistics().map((sp) => [sp.space_name, sp.space_used_size])),
        openTransports: http.openTransports,
        sessions: coordinator.sessions.size,
        requests: coordinator.requests.size,
        requestSessions: coordinator.requests.sessionCount,
        connections: host.hub.size,
        locks: coordinator.sessions.lockCount,
      };
      process.send?.(report);
    })();
  });
  process.once('disconnect', () => void participant.stop('bench done').finally(() => process.exit(0)));
}

main().catch((e: unknown) => {
  process.stderr.write(`inProcessServer: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
