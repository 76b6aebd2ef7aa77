// `npm run bench`, message figures (issue 12, R-AGT-6): from message_send by
// an agent on one participant to the recipient's notifications/resources/updated
// for inbox://me on another participant of the same project, on the file store
// and on Redis. The baseline, measured in the same run on the same processes,
// is the push of a shared-context change (context_set to the subscriber's
// context://<namespace> notification): the path a message rides on.
// `npm run bench -- message-delivery` runs only these figures.
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { httpClient, whoami } from '../test/support/mcpClients.js';
import { startServe } from '../test/support/processes.js';
import { startRedisServer } from '../test/support/redisServer.js';
import { tempDir } from '../test/support/workspace.js';
import { MACHINE, report, runEntry } from './support/report.js';
import { quantile, sig } from './support/stats.js';

const REPO = process.env.BENCH_REPO ?? process.cwd();
const only = new Set(process.argv.slice(2));
const want = (name: string): boolean => only.size === 0 || [...only].some((o) => name.startsWith(o));
const ROUNDS = 200;
const cleanup: Array<() => Promise<unknown>> = [];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Milliseconds from before each send to its notification, ROUNDS times, one at a time. */
async function pushTimes(
  reader: Client,
  uri: string,
  send: (i: number) => Promise<unknown>,
  between?: (i: number) => Promise<unknown>,
): Promise<number[]> {
  let waiting: (() => void) | undefined;
  reader.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
    if (n.params.uri === uri) waiting?.();
  });
  const times: number[] = [];
  for (let i = 0; i < ROUNDS + 10; i++) {
    const started = performance.now();
    const heard = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no notification for ${uri} in 5 s`)), 5000);
      waiting = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    await Promise.all([send(i), heard]);
    waiting = undefined;
    // The first rounds warm up the JIT and the watchers.
    if (i >= 10) times.push(performance.now() - started);
    await between?.(i);
  }
  return times;
}

async function delivery(backend: 'file' | 'redis', targetMs: number): Promise<void> {
  const ws = tempDir('sc-bench-msg-');
  const home = tempDir('sc-bench-msg-home-');
  cleanup.push(ws.remove, home.remove);
  let args = ['--log-level', 'warn'];
  if (backend === 'redis') {
    const redis = await startRedisServer();
    cleanup.push(() => redis.remove());
    args = [...args, '--store', redis.url];
  }
  const [one, two] = await Promise.all([startServe(ws.path, home.path, args), startServe(ws.path, home.path, args)]);
  cleanup.push(
    () => one.stop(),
    () => two.stop(),
  );
  // One sender may send 30 messages a minute (R-AGT-6): a new sender every 25 keeps the bench inside the rule.
  const senders = await Promise.all(
    Array.from({ length: Math.ceil((ROUNDS + 11) / 25) }, (_, i) => httpClient(one.url, `bench-sender-${i}`)),
  );
  const sender = senders[0]!;
  const reader = await httpClient(two.url, 'bench-reader');
  cleanup.push(...senders.map((c) => () => c.client.close()), () => reader.client.close());
  const readerId = (await whoami(reader.client)).sessionId;
  await reader.client.subscribeResource({ uri: 'inbox://me' });
  await reader.client.subscribeResource({ uri: 'context://bench' });
  // The reader's presence reaches the sender's participant within a heartbeat.
  for (
    let attempt = 0;
    (await sender.client.callTool({ name: 'message_send', arguments: { to: readerId, body: 'hello' } })).isError;
    attempt++
  ) {
    if (attempt > 50) throw new Error("the reader never became known to the sender's participant");
    await sleep(100);
  }
  const baseline = await pushTimes(reader.client, 'context://bench', (i) =>
    sender.client.callTool({ name: 'context_set', arguments: { namespace: 'bench', key: 'k', value: i } }),
  );
  const messages = await pushTimes(
    reader.client,
    'inbox://me',
    async (i) => {
      const r = await senders[Math.floor((i + 1) / 25)]!.client.callTool({
        name: 'message_send',
        arguments: { to: readerId, body: `message ${i}` },
      });
      if (r.isError) throw new Error(`message_send refused: ${JSON.stringify(r.content)}`);
    },
    async (i) => {
      // Untimed: the reader reads and acknowledges as an agent would, so the inbox stays under its bound of 100 unread.
      if (i % 20 !== 19) return;
      const page = (await reader.client.callTool({ name: 'message_inbox', arguments: { unreadOnly: true, limit: 100 } }))
        .structuredContent as { messages: Array<{ id: string }> };
      await reader.client.callTool({ name: 'message_ack', arguments: { ids: page.messages.map((m) => m.id) } });
    },
  );
  const p99 = quantile(messages, 0.99);
  const base99 = quantile(baseline, 0.99);
  report(
    `message-delivery-p99${backend === 'redis' ? '-redis' : ''}`,
    p99,
    base99,
    'ms',
    undefined,
    `${ROUNDS} messages, one at a time, message_send on one serve to inbox://me updated on another (${backend} store): p50 ${sig(quantile(messages, 0.5), 3)} ms, p99 ${sig(p99, 3)} ms; ` +
      `context_set to context:// updated on the same processes: p50 ${sig(quantile(baseline, 0.5), 3)} ms, p99 ${sig(base99, 3)} ms; target: p99 < ${targetMs} ms`,
    p99 < targetMs,
  );
}

async function main(): Promise<void> {
  console.error(`bench (messages): ${MACHINE}`);
  if (want('message-delivery')) {
    await delivery('file', 20);
    await delivery('redis', 5);
  }
}

runEntry('messages', REPO, main, cleanup);
