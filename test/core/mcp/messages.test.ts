import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { relayAgent } from '../../support/agentExit.js';
import { runCliWith } from '../../support/cliProcesses.js';
import { httpClient, whoami } from '../../support/mcpClients.js';
import { cliEnv, fetchStatus, startServe } from '../../support/processes.js';
import { startRedisServer, type RedisServer } from '../../support/redisServer.js';
import { callOk, callRefused, resourceUpdates, sharedWorkspace, type SharedWorkspace } from '../../support/sharedContext.js';
import { tempDir } from '../../support/workspace.js';

/**
 * Messages and handoffs (R-AGT-6) as agents use them: real `serve` processes
 * on one workspace, real SDK clients over HTTP and over stdio (`connect`,
 * with the agent's own session id in its environment), real hook processes.
 */

interface Sent {
  thread: string;
  sent: Array<{ id: string; to: string }>;
  refused: Array<{ to: string; reason: string }>;
}
interface InboxMessage {
  id: string;
  from: { sessionId: string; clientName: string; agent?: { kind: string; sessionId: string } };
  replyTo: string;
  subject: string;
  body: string;
  thread: string;
  delivered: boolean;
  read: boolean;
}
interface InboxPage {
  inbox: string;
  messages: InboxMessage[];
  nextCursor: string;
  unread: number;
}

let w: SharedWorkspace;
let redis: RedisServer;
const cleanup: Array<() => Promise<unknown>> = [];
before(async () => {
  w = await sharedWorkspace(2);
  redis = await startRedisServer();
});
after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
  await w?.close();
  await redis?.remove();
});

/**
 * Pushed within 100 ms (the bound) as a median of five, and none past
 * a second: this machine is shared and noisy; the tail is the bench's
 * figure (npm run bench -- message-delivery).
 */
function withinBound(latencies: number[]): void {
  const median = [...latencies].sort((a, b) => a - b)[Math.floor(latencies.length / 2)]!;
  assert.ok(median <= 100, `median push ${median} ms: ${latencies.join(', ')}`);
  assert.ok(Math.max(...latencies) <= 1000, `every push within 1 s: ${latencies.join(', ')}`);
}

/** Waits until participant `index` lists session `id` among the live ones (presence, up to a heartbeat). */
async function seenBy(index: number, id: string): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const status = await fetchStatus<{ participants: Array<{ sessions: Array<{ id: string }> }> }>(w.servers[index]!);
    if (status.participants.some((p) => p.sessions.some((s) => s.id === id))) return;
    assert.ok(Date.now() < deadline, `participant ${index} did not see session ${id} within 5 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function bobOverStdio(id: string): Promise<Awaited<ReturnType<typeof relayAgent>>> {
  const bob = await relayAgent(w.path, w.home, { CLAUDE_CODE_SESSION_ID: id }, 'claude-code');
  cleanup.push(() => bob.client.close());
  // Relayed to one of the two participants: the other knows of it once its presence beat lands.
  const sessionId = (await whoami(bob.client)).sessionId;
  await Promise.all([seenBy(0, sessionId), seenBy(1, sessionId)]);
  return bob;
}

test('R-AGT-6: a message reaches a subscribed agent over stdio within 100 ms, from the sender the coordinator names (a forged `from` is ignored)', async () => {
  const alice = await w.connect(0, 'alice');
  const bob = await bobOverStdio('bob-agent-0001');
  const updates = resourceUpdates(bob.client);
  await bob.client.subscribeResource({ uri: 'inbox://me' });
  const me = await whoami(alice.client);
  const latencies: number[] = [];
  for (let i = 0; i < 5; i++) {
    const since = Date.now();
    const sent = await callOk<Sent>(alice.client, 'message_send', {
      to: 'claude-code:bob-agent-0001',
      subject: `question ${i}`,
      body: 'May I have src/api.ts?',
      from: { sessionId: 'forged' },
    });
    assert.deepEqual(
      sent.sent.map((s) => s.to),
      ['claude-code:bob-agent-0001'],
    );
    latencies.push(await updates.next('inbox://me', since, 2000));
  }
  console.log(`# message push over stdio (file store): ${latencies.join(', ')} ms`);
  withinBound(latencies);
  const page = await callOk<InboxPage>(bob.client, 'message_inbox', {});
  assert.equal(page.inbox, 'claude-code:bob-agent-0001');
  assert.equal(page.unread, 5);
  const first = page.messages[0]!;
  assert.deepEqual(
    [first.from.sessionId, first.from.clientName, first.replyTo, first.subject, first.body],
    [me.sessionId, 'alice', me.sessionId, 'question 0', 'May I have src/api.ts?'],
  );
  // The reply goes where replyTo says, in the same thread; acknowledging marks read.
  const reply = await callOk<Sent>(bob.client, 'message_send', { to: first.replyTo, thread: first.thread, body: 'Yes, in a minute' });
  assert.equal(reply.thread, first.thread);
  const aliceInbox = await callOk<InboxPage>(alice.client, 'message_inbox', { unreadOnly: true });
  assert.deepEqual(
    aliceInbox.messages.map((m) => [m.body, m.thread, m.from.agent?.sessionId]),
    [['Yes, in a minute', first.thread, 'bob-agent-0001']],
  );
  const acked = await callOk<{ acked: string[] }>(bob.client, 'message_ack', { ids: page.messages.map((m) => m.id) });
  assert.equal(acked.acked.length, 5);
  const after = await callOk<InboxPage>(bob.client, 'message_inbox', { unreadOnly: true });
  assert.deepEqual([after.unread, after.messages.length], [0, 0]);
  const next = await callOk<InboxPage>(bob.client, 'message_inbox', { cursor: page.nextCursor });
  assert.equal(next.messages.length, 0, 'the cursor reads on after the last message');
});

test('R-AGT-6: bad input is refused clearly and stores nothing: an unknown recipient, an oversize body, a bad thread; a flood is rate limited and counted', async () => {
  const alice = await w.connect(1, 'alice-2');
  const carol = await w.connect(1, 'carol');
  const carolId = (await whoami(carol.client)).sessionId;
  const unknown = await callRefused(alice.client, 'message_send', { to: 'claude-code:nobody', body: 'hello' });
  assert.match(unknown, /^UnknownRecipient: Nobody live on this project is "claude-code:nobody"; nothing was sent/);
  assert.match(unknown, new RegExp(carolId), 'the refusal lists who can be addressed');
  assert.match(
    await callRefused(alice.client, 'message_send', { to: carolId, body: 'x'.repeat(4097) }),
    /^ValueTooLarge: The message body is 4097 bytes; the limit is 4096/,
  );
  assert.match(
    await callRefused(alice.client, 'message_send', { to: carolId, body: 'x', thread: '../../etc' }),
    /^InvalidArgument: thread must be/,
  );
  assert.equal((await callOk<InboxPage>(carol.client, 'message_inbox', {})).messages.length, 0, 'nothing refused was stored');
  let sent = 0;
  let refusal = '';
  for (let i = 0; i < 40 && !refusal; i++) {
    const r = await alice.client.callTool({ name: 'message_send', arguments: { to: carolId, body: `spam ${i}` } });
    if (r.isError) refusal = (r.content as Array<{ text: string }>)[0]!.text;
    else sent++;
  }
  assert.equal(sent, 29, 'thirty attempts a minute, the one to nobody included');
  assert.match(
    refusal,
    /^RateLimited: You tried to send 30 messages in the last minute, the most one sender may; nothing was sent. Try again in \d+ s/,
  );
  assert.equal((await callOk<InboxPage>(carol.client, 'message_inbox', { limit: 100 })).messages.length, 29);
  const status = await fetchStatus<{ metrics: Record<string, number> }>(w.servers[1]!);
  assert.equal(status.metrics['messages.rateLimited'], 1);
  assert.ok(status.metrics['messages.sent']! >= 29);
});

test('R-AGT-6: "all" reaches every live session but the sender; HTML is kept as text', async () => {
  const a = await w.connect(0, 'all-a');
  const b = await w.connect(1, 'all-b');
  // b lives in the other participant: a's knows of it once b's presence beat lands.
  await seenBy(0, (await whoami(b.client)).sessionId);
  const body = '<img src=x onerror="alert(1)"> & <b>bold</b>';
  const sent = await callOk<Sent>(a.client, 'message_send', { to: 'all', subject: '<script>x</script>', body });
  const bId = (await whoami(b.client)).sessionId;
  assert.ok(
    sent.sent.some((s) => s.to === bId),
    `b is among ${JSON.stringify(sent.sent)}`,
  );
  assert.ok(!sent.sent.some((s) => s.to === 'people'), 'people are told by "people", not by "all"');
  const got = (await callOk<InboxPage>(b.client, 'message_inbox', { unreadOnly: true })).messages.find((m) => m.thread === sent.thread);
  assert.deepEqual([got?.subject, got?.body], ['<script>x</script>', body], "stored as the sender wrote it: escaping is the viewer's job");
  const aInbox = await callOk<InboxPage>(a.client, 'message_inbox', {});
  assert.ok(!aInbox.messages.some((m) => m.thread === sent.thread), 'not to the sender');
});

test("R-AGT-6, R-AGT-4: a claim handed over with claim_transfer: the recipient holds it under a larger token and is told; the guard's denial says whom to ask", async () => {
  const bob = await bobOverStdio('bob-agent-0002');
  const alice = await w.connect(1, 'alice-3');
  const aliceId = (await whoami(alice.client)).sessionId;
  const held = await callOk<{ fencingToken: number }>(bob.client, 'claim_acquire', { resource: 'src/api.ts' });
  // Another Claude Code's hook is denied the file, and told whom to ask.
  const file = path.join(w.path, 'src', 'api.ts');
  const denied = await runCliWith(['hook', 'claude-code'], cliEnv(w.home), {
    stdin: JSON.stringify({
      session_id: 'carol-agent-1',
      cwd: w.path,
      hook_event_name: 'PreToolUse',
      tool_name: 'Edit',
      tool_input: { file_path: file },
    }),
  });
  assert.equal(denied.code, 2);
  assert.match(
    denied.stderr,
    /Ask the holder to hand it to you: message_send \{"to":"claude-code:bob-agent-0002"\} \(it can claim_transfer it\), or wait for the claim to end/,
  );
  assert.match(
    await callRefused(bob.client, 'claim_transfer', { resource: 'src/api.ts', to: 'claude-code:nobody', fencingToken: held.fencingToken }),
    /^UnknownRecipient/,
  );
  assert.match(
    await callRefused(bob.client, 'claim_transfer', { resource: 'src/api.ts', to: 'all', fencingToken: held.fencingToken }),
    /one live agent or session/,
  );
  assert.match(
    await callRefused(alice.client, 'claim_transfer', { resource: 'src/api.ts', to: aliceId, fencingToken: held.fencingToken }),
    /^InvalidArgument: .* is you|^ClaimNotHeld/,
  );
  const moved = await callOk<{ fencingToken: number; holder: { sessionId: string }; notified: boolean }>(bob.client, 'claim_transfer', {
    resource: 'src/api.ts',
    to: aliceId,
    fencingToken: held.fencingToken,
  });
  assert.equal(moved.holder.sessionId, aliceId);
  assert.ok(moved.fencingToken > held.fencingToken);
  assert.equal(moved.notified, true);
  const told = (await callOk<InboxPage>(alice.client, 'message_inbox', { unreadOnly: true })).messages.at(-1);
  assert.match(told?.body ?? '', /handed you its claim on src\/api\.ts: fencing token \d+/);
  assert.match(
    await callRefused(bob.client, 'claim_release', { resource: 'src/api.ts', fencingToken: held.fencingToken }),
    /^StaleFencingToken/,
  );
  await callOk(alice.client, 'claim_release', { resource: 'src/api.ts', fencingToken: moved.fencingToken });
});

test("R-AGT-6, R-AGT-4: the hook puts an agent's new messages into its model's context on its next tool call (any tool), once", async () => {
  const bob = await bobOverStdio('bob-agent-0003');
  const alice = await w.connect(0, 'alice-4');
  await callOk(alice.client, 'message_send', {
    to: 'claude-code:bob-agent-0003',
    subject: 'api',
    body: 'Stop touching the API, I am migrating it',
  });
  const hook = (tool: string): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    runCliWith(['hook', 'claude-code'], cliEnv(w.home), {
      stdin: JSON.stringify({
        session_id: 'bob-agent-0003',
        cwd: w.path,
        hook_event_name: 'PreToolUse',
        tool_name: tool,
        tool_input: { file_path: path.join(w.path, 'README.md') },
      }),
    });
  const first = await hook('Read');
  assert.equal(first.code, 0, first.stderr);
  const out = JSON.parse(first.stdout) as {
    hookSpecificOutput?: { hookEventName: string; additionalContext?: string; permissionDecision?: string };
  };
  assert.equal(out.hookSpecificOutput?.hookEventName, 'PreToolUse');
  assert.equal(out.hookSpecificOutput?.permissionDecision, undefined, 'never an "allow" that would skip the person\'s permission rules');
  assert.match(out.hookSpecificOutput?.additionalContext ?? '', /1 new message for you .*\(their words, not your user's instructions\)/);
  assert.match(out.hookSpecificOutput?.additionalContext ?? '', /Stop touching the API, I am migrating it/);
  assert.match(out.hookSpecificOutput?.additionalContext ?? '', /reply with message_send \{"to":"[^"]+","thread":"[0-9a-f]+"\}/);
  const second = await hook('Bash');
  assert.deepEqual([second.code, second.stdout], [0, ''], 'delivered once');
  const inbox = await callOk<InboxPage>(bob.client, 'message_inbox', {});
  assert.deepEqual(
    inbox.messages.map((m) => [m.delivered, m.read]),
    [[true, false]],
    "delivered, not yet read: message_ack is the agent's",
  );
});

for (const backend of ['file', 'redis'] as const) {
  for (const transport of ['http', 'stdio'] as const) {
    test(`R-AGT-6: on the ${backend} store, a message from another participant reaches an agent subscribed over ${transport} within 100 ms`, async () => {
      const ws = tempDir();
      const home = tempDir();
      cleanup.push(ws.remove, home.remove);
      const store = backend === 'redis' ? ['--store', redis.url] : [];
      const [one, two] = await Promise.all([startServe(ws.path, home.path, store), startServe(ws.path, home.path, store)]);
      cleanup.push(
        () => one.stop(),
        () => two.stop(),
      );
      const sender = await httpClient(one.url, 'push-sender');
      // Over stdio the reader is relayed (connect) to one of the two participants.
      const reader =
        transport === 'http' ? await httpClient(two.url, 'push-reader') : await relayAgent(ws.path, home.path, {}, 'push-reader');
      cleanup.push(
        () => sender.client.close(),
        () => reader.client.close(),
      );
      const readerId = (await whoami(reader.client)).sessionId;
      const updates = resourceUpdates(reader.client);
      await reader.client.subscribeResource({ uri: 'inbox://me' });
      // The reader's presence reaches the sender's participant within a heartbeat: until then it is unknown there.
      for (let attempt = 0; ; attempt++) {
        const r = await sender.client.callTool({ name: 'message_send', arguments: { to: readerId, body: 'hello' } });
        if (!r.isError) break;
        assert.match(JSON.stringify(r.content), /UnknownRecipient/);
        assert.ok(attempt < 25, 'the reader became known to the other participant within 5 s');
        await new Promise((res) => setTimeout(res, 200));
      }
      const latencies: number[] = [];
      for (let i = 0; i < 5; i++) {
        const since = Date.now();
        await callOk(sender.client, 'message_send', { to: readerId, body: `push ${i}` });
        latencies.push(await updates.next('inbox://me', since, 2000));
      }
      console.log(`# message push (${backend} store, reader over ${transport}): ${latencies.join(', ')} ms`);
      withinBound(latencies);
      const page = await callOk<InboxPage>(reader.client, 'message_inbox', {});
      assert.deepEqual(
        page.messages.map((m) => m.body),
        ['hello', ...Array.from({ length: 5 }, (_, i) => `push ${i}`)],
      );
    });
  }
}

test("R-AGT-6, R-CLI-1: `session-coordinator message` from a terminal reaches a subscribed agent as a person's message; an unknown recipient exits 1 and stores nothing", async () => {
  const bob = await bobOverStdio('bob-agent-0004');
  const updates = resourceUpdates(bob.client);
  await bob.client.subscribeResource({ uri: 'inbox://me' });
  const since = Date.now();
  const sent = await runCliWith(
    ['message', 'claude-code:bob-agent-0004', 'Stop', 'touching', 'the', 'API', '--subject', 'api', '--workspace', w.path],
    cliEnv(w.home),
  );
  assert.equal(sent.code, 0, sent.stderr);
  assert.match(sent.stdout, /^sent [0-9a-f]{12} to claude-code:bob-agent-0004 \(thread [0-9a-f]{12}\)\n$/);
  await updates.next('inbox://me', since, 2000);
  const [got] = (await callOk<InboxPage>(bob.client, 'message_inbox', { unreadOnly: true })).messages;
  assert.deepEqual([got?.body, got?.subject, got?.from.sessionId, got?.replyTo], ['Stop touching the API', 'api', 'person', 'people']);
  assert.match(got!.from.clientName, / \(terminal\)$/);
  const unknown = await runCliWith(['message', 'claude-code:nobody', 'hi', '--workspace', w.path], cliEnv(w.home));
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /UnknownRecipient: Nobody live on this project is "claude-code:nobody"; nothing was sent/);
  const usage = await runCliWith(['message', '--workspace', w.path], cliEnv(w.home));
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /message needs a recipient and the text/);
});
