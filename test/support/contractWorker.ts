// A separate OS process on either backend: the "other machine" of the contract tests.
// Usage: node contractWorker.js '<json config>'
import * as readline from 'node:readline';
import { silentLogger } from '../../src/core/logging/logger.js';
import { Metrics } from '../../src/core/metrics/metrics.js';
import { FileStore } from '../../src/core/store/file/fileStore.js';
import { RedisStore } from '../../src/core/store/redis/redisStore.js';
import type { SharedStore } from '../../src/core/store/sharedStore.js';
import type { ContractWorkerConfig } from './contractWorkers.js';
import { incrementCounter } from './counterIncrement.js';

async function open(config: ContractWorkerConfig, metrics: Metrics): Promise<SharedStore> {
  const participant = { kind: 'headless' as const, label: `worker ${config.prefix} (pid ${process.pid})` };
  if (config.backend.kind === 'file') {
    return FileStore.open({
      projectRoot: config.backend.root,
      participant,
      metrics,
      logger: silentLogger,
      options: { lock: { staleMs: 2000, timeoutMs: 60_000 }, pollMs: 60_000 },
    });
  }
  return RedisStore.open({ url: config.backend.url, projectId: config.backend.projectId, participant, metrics, logger: silentLogger });
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2]!) as ContractWorkerConfig;
  const metrics = new Metrics();
  const store = await open(config, metrics);
  const by = { sessionId: config.prefix, clientName: `worker-${config.prefix}`, participantId: store.participantId };
  const say = (line: string): void => void process.stdout.write(line + '\n');

  if (config.mode === 'race') {
    say('ready');
    const lines = readline.createInterface({ input: process.stdin });
    for await (const line of lines) {
      const [command, arg] = line.split(' ');
      if (command === 'go') {
        try {
          const claim = await store.acquireClaim(config.resource, by, 60_000);
          say(`won ${claim.fencingToken}`);
        } catch (e) {
          say(`lost ${(e as { code?: string }).code} ${(e as Error).message.split('\n')[0]}`);
        }
      } else if (command === 'release') {
        await store.releaseClaim(config.resource, Number(arg), by);
        say('released');
      } else if (command === 'quit') {
        break;
      }
    }
    await store.dispose();
    // stdin is still open (the parent's pipe): it would keep this process alive.
    process.exit(0);
  }

  if (config.mode === 'hold') {
    const claim = await store.acquireClaim(config.resource, by, 3_600_000);
    await store.heartbeat([]);
    say(`held ${claim.fencingToken} ${store.participantId}`);
    // Lives until killed: the store's own timers do not keep a process alive.
    setInterval(() => undefined, 1000);
    return;
  }

  let conflicts = 0;
  const started = performance.now();
  for (let i = 0; i < config.count; i++) {
    if (config.mode === 'unique') {
      const key = `${config.prefix}-${i}`;
      await store.set(config.namespace, key, { i }, by);
      say(`ack ${key}`);
    } else {
      conflicts += await incrementCounter(store, config.mode, config.namespace, config.key, by);
    }
  }
  say(JSON.stringify({ done: true, conflicts, ms: performance.now() - started }));
  await store.dispose();
}

main().catch((e) => {
  process.stderr.write(`worker failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
