// A separate OS process that opens the shared store the way a user's coordinator
// does (openSharedStore with a store URL), so that it can be started with
// NODE_EXTRA_CA_CERTS: Node reads that variable only at process start, and it is
// the one way to make a rediss:// store trust a private CA.
// Usage: node redisTlsWorker.js '<json config>'; then one JSON command a line on
// stdin, one JSON message a line on stdout.
import * as readline from 'node:readline';
import { errorMessage, isCoordinatorError } from '../../src/core/errors.js';
import type { Logger } from '../../src/core/logging/logger.js';
import { Metrics } from '../../src/core/metrics/metrics.js';
import { openSharedStore } from '../../src/core/store/openSharedStore.js';
import type { RedisStoreOptions } from '../../src/core/store/redis/redisStore.js';
import type { SharedStore } from '../../src/core/store/sharedStore.js';

export interface TlsWorkerConfig {
  url: string;
  projectId: string;
  projectRoot: string;
  label: string;
  redisOptions?: Partial<RedisStoreOptions>;
}

export type TlsWorkerCommand =
  | { id: number; op: 'set'; namespace: string; key: string; value: unknown }
  | { id: number; op: 'get'; namespace: string; key: string }
  | { id: number; op: 'status' }
  | { id: number; op: 'dispose' };

export interface WorkerError {
  code?: string;
  message: string;
}

export type TlsWorkerMessage =
  | { type: 'opened'; ms: number; participantId: string }
  | { type: 'openFailed'; ms: number; error: WorkerError }
  | { type: 'event'; kind: string; change?: unknown }
  | { type: 'log'; level: string; message: string }
  | { type: 'reply'; id: number; ok: true; result: unknown }
  | { type: 'reply'; id: number; ok: false; error: WorkerError };

const send = (m: TlsWorkerMessage): void => void process.stdout.write(JSON.stringify(m) + '\n');

const toError = (e: unknown): WorkerError => (isCoordinatorError(e) ? { code: e.code, message: e.message } : { message: errorMessage(e) });

const logTo = (level: string) => (message: string | Error) =>
  send({ type: 'log', level, message: message instanceof Error ? message.message : message });
const logger: Logger = { trace() {}, debug() {}, info: logTo('info'), warn: logTo('warn'), error: logTo('error') };

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2]!) as TlsWorkerConfig;
  const started = performance.now();
  let store: SharedStore;
  try {
    store = await openSharedStore(
      { url: config.url, projectId: config.projectId },
      {
        projectRoot: config.projectRoot,
        participant: { kind: 'headless', label: config.label },
        metrics: new Metrics(),
        logger,
        ...(config.redisOptions ? { redisOptions: config.redisOptions } : {}),
      },
    );
  } catch (e) {
    send({ type: 'openFailed', ms: performance.now() - started, error: toError(e) });
    return;
  }
  // Every namespace's changes (one PSUBSCRIBE over TLS): the test reads what this worker hears.
  store.watchChanges();
  store.onEvent((e) => send(e.kind === 'change' ? { type: 'event', kind: e.kind, change: e.change } : { type: 'event', kind: e.kind }));
  send({ type: 'opened', ms: performance.now() - started, participantId: store.participantId });

  const by = { sessionId: `${config.label}-session`, clientName: 'redis-tls-worker', participantId: store.participantId };
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const command = JSON.parse(line) as TlsWorkerCommand;
    try {
      let result: unknown;
      if (command.op === 'set') result = await store.set(command.namespace, command.key, command.value, by);
      else if (command.op === 'get') result = (await store.get(command.namespace, command.key)) ?? null;
      else if (command.op === 'status') result = await store.status();
      else {
        await store.dispose();
        send({ type: 'reply', id: command.id, ok: true, result: null });
        break;
      }
      send({ type: 'reply', id: command.id, ok: true, result });
    } catch (e) {
      send({ type: 'reply', id: command.id, ok: false, error: toError(e) });
    }
  }
  lines.close();
  await store.dispose();
}

main()
  .then(() => process.exit(0))
  .catch((e) => {
    process.stderr.write(`redis TLS worker failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
