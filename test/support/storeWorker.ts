// A separate OS process that uses the file store: the "other window" of the store tests.
// Usage: node storeWorker.js '<json config>'
import { silentLogger } from '../../src/core/logging/logger.js';
import { Metrics } from '../../src/core/metrics/metrics.js';
import { FileStore } from '../../src/core/store/file/fileStore.js';
import type { ShardIoMode } from '../../src/core/store/file/shardIo.js';
import { incrementCounter } from './counterIncrement.js';

interface Config {
  mode: 'cas' | 'update' | 'unique';
  root: string;
  count: number;
  prefix: string;
  namespace: string;
  key: string;
  staleMs: number;
  /** The store's rotateBytes, when a test wants this worker's write to fold the log. */
  rotateBytes?: number;
  /** Concurrent loops in this process (agents of one window), each doing `count` operations. */
  agents: number;
  io: ShardIoMode;
  /** A write that fails is reported (`err <key> <message>`) and the loop goes on. */
  tolerateErrors?: boolean;
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2]!) as Config;
  const metrics = new Metrics();
  const store = await FileStore.open({
    projectRoot: config.root,
    participant: { kind: 'headless', label: `worker ${config.prefix}` },
    metrics,
    logger: silentLogger,
    options: {
      lock: { staleMs: config.staleMs, timeoutMs: 60_000 },
      pollMs: 60_000,
      io: config.io,
      ...(config.rotateBytes ? { rotateBytes: config.rotateBytes } : {}),
    },
  });
  const by = { sessionId: config.prefix, clientName: 'store-worker', participantId: store.participantId };
  let conflicts = 0;
  const started = performance.now();
  const latencies: number[] = [];
  const agent = async (a: number): Promise<void> => {
    for (let i = 0; i < config.count; i++) {
      const t = performance.now();
      try {
        if (config.mode === 'unique') {
          const key = a === 0 ? `${config.prefix}-${i}` : `${config.prefix}-a${a}-${i}`;
          await store.set(config.namespace, key, { i, pad: 'x'.repeat(100) }, by);
          process.stdout.write(`ack ${key}\n`);
        } else {
          conflicts += await incrementCounter(store, config.mode, config.namespace, config.key, by);
          process.stdout.write(`ack ${config.prefix}-${a}-${i}\n`);
        }
      } catch (e) {
        if (!config.tolerateErrors) throw e;
        process.stdout.write(`err ${config.prefix}-${a}-${i} ${e instanceof Error ? e.message : String(e)}\n`);
      }
      latencies.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: config.agents }, (_, a) => agent(a)));
  const snapshot = metrics.snapshot();
  process.stdout.write(
    JSON.stringify({
      done: true,
      conflicts,
      ms: performance.now() - started,
      latencies,
      compromised: snapshot['store.lock.compromised'] ?? 0,
      retries: snapshot['store.writeRetries'] ?? 0,
      rejected: snapshot['store.rejectedRecords'] ?? 0,
      writes: snapshot['store.writes'] ?? 0,
      commits: snapshot['store.commits'] ?? 0,
    }) + '\n',
  );
  await store.dispose();
}

main().catch((e) => {
  process.stderr.write(`worker failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
