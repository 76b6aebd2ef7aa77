import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { msUntilGranted, relayAgent } from '../support/agentExit.js';
import { runClaude, type ClaudeResult } from '../support/agents/claudeCode.js';
import { startScriptedAnthropic, type ScriptedModel, type Step } from '../support/agents/scriptedAnthropic.js';
import { runCliWith } from '../support/cliProcesses.js';
import { repositoryWithWorktree } from '../support/gitRepository.js';
import { httpClient } from '../support/mcpClients.js';
import { cliEnv, startServe, TOKEN, type ServeHandle } from '../support/processes.js';
import { tempDir } from '../support/workspace.js';

// The real Claude Code from the npm registry, its real MCP client and its real hooks,
// driven by a scripted model on loopback (R-AGT-5). No model, no network.

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

const tool = (name: string, input: unknown = {}): Step => ({ toolUse: { name: `mcp__session-coordinator__${name}`, input } });

interface Setup {
  ws: string;
  home: string;
  server: ServeHandle | undefined;
}

async function project(options: { participant: boolean }): Promise<Setup> {
  const ws = tempDir();
  const home = tempDir();
  cleanup.push(ws.remove, home.remove);
  const server = options.participant ? await startServe(ws.path, home.path) : undefined;
  if (server) cleanup.push(() => server.stop());
  return { ws: ws.path, home: home.path, server };
}

async function model(steps: Array<Step | (() => Promise<Step>)>): Promise<ScriptedModel> {
  const m = await startScriptedAnthropic(steps);
  cleanup.push(() => m.close());
  return m;
}

function claude(setup: Setup, m: ScriptedModel): Promise<ClaudeResult> {
  // The participants under test take their token from the environment (test/support/processes.ts); so do connect and the hook.
  return runClaude({ workspace: setup.ws, modelUrl: m.url, coordinatorHome: setup.home, env: { SESSION_COORDINATOR_TOKEN: TOKEN } });
}

function agentSessionId(result: ClaudeResult): string {
  assert.equal(result.code, 0, `claude exited ${result.code}: ${result.stderr.slice(-1500)}`);
  return (JSON.parse(result.stdout) as { session_id: string }).session_id;
}

/** Another agent, holding `resource`, in a process of its own (a relayed Claude Code session, as far as we can tell). */
async function holder(setup: Setup, resource: string, id = 'holder-agent-0001'): Promise<void> {
  const agent = await relayAgent(setup.ws, setup.home, { CLAUDE_CODE_SESSION_ID: id }, 'claude-code');
  cleanup.push(() => agent.client.close());
  const r = await agent.client.callTool({ name: 'claim_acquire', arguments: { resource, ttlSeconds: 600 } });
  assert.equal(r.isError, undefined, JSON.stringify(r.content));
}

test('R-AGT-5, R-AGT-2: Claude Code connects through connect, and whoami names the agent by its own session id', async () => {
  const setup = await project({ participant: true });
  const m = await model([tool('whoami'), { text: 'done' }]);
  const result = await claude(setup, m);
  const sessionId = agentSessionId(result);
  const [whoami] = m.toolResults();
  assert.equal(whoami?.isError, false, whoami?.text);
  const me = JSON.parse(whoami!.text) as {
    client: { name: string };
    agent?: { kind: string; sessionId: string };
    transport: string;
    pid: number;
  };
  assert.equal(me.client.name, 'claude-code');
  assert.deepEqual(me.agent, { kind: 'claude-code', sessionId }, "the agent is Claude Code's own session");
  assert.equal(me.transport, 'relay');
  assert.equal(me.pid, setup.server!.child.pid, 'relayed to the live participant');
});

test('R-AGT-5, R-CLM-1, R-AGT-1: a conflicting claim is refused with the holder; after Claude Code exits its own claim is free within 1 s', async () => {
  const setup = await project({ participant: true });
  await holder(setup, 'src/locked');
  const m = await model([
    tool('claim_acquire', { resource: 'src/locked/a.ts' }),
    tool('claim_acquire', { resource: 'docs/readme.md', ttlSeconds: 600 }),
    { text: 'done' },
  ]);
  const result = await claude(setup, m);
  agentSessionId(result);
  const [refused, granted] = m.toolResults();
  assert.equal(refused?.isError, true);
  assert.match(refused!.text, /src\/locked\/a\.ts is claimed \(through src\/locked\) by claude-code session holder-a…/);
  assert.equal(granted?.isError, false, granted?.text);
  const other = await httpClient(setup.server!.url, 'other');
  cleanup.push(() => other.client.close());
  const ms = await msUntilGranted(other.client, 'docs/readme.md', result.exitedAt, 5_000);
  console.log(`agent-exit-release Claude Code exited: its claim free ${ms} ms after`);
  assert.ok(ms <= 1_000, `free ${ms} ms after Claude Code exited`);
});

test("R-AGT-4, R-AGT-5: Claude Code's Edit inside another agent's claimed folder is blocked by its own hook, the file is unchanged, and the model is told the holder", async () => {
  const setup = await project({ participant: true });
  const file = path.join(setup.ws, 'src', 'locked', 'a.ts');
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, 'export const a = 1;\n');
  await holder(setup, 'src/locked');
  const m = await model([
    { toolUse: { name: 'Read', input: { file_path: file } } },
    { toolUse: { name: 'Edit', input: { file_path: file, old_string: '1', new_string: '2' } } },
    { text: 'done' },
  ]);
  agentSessionId(await claude(setup, m));
  const edit = m.toolResults()[1];
  assert.equal(edit?.isError, true, `the Edit was not blocked: ${edit?.text}`);
  assert.match(edit!.text, /src\/locked\/a\.ts is claimed \(through src\/locked\) by claude-code session holder-a…/);
  assert.match(
    edit!.text,
    /Ask the holder to hand it to you: message_send \{"to":"claude-code:[^"]+"\} \(it can claim_transfer it\), or wait for the claim to end/,
  );
  assert.equal(readFileSync(file, 'utf8'), 'export const a = 1;\n', 'the file is unchanged');
});

test("R-AGT-4, R-AGT-5: an unclaimed edit goes through and shows in claim_list as the agent's while it works; free within 1 s after it exits; its own MCP claim never blocks it", async () => {
  const setup = await project({ participant: true });
  const free = path.join(setup.ws, 'src', 'free.ts');
  const mine = path.join(setup.ws, 'lib', 'mine', 'b.ts');
  const m = await model([
    { toolUse: { name: 'Write', input: { file_path: free, content: 'export const free = true;\n' } } },
    tool('claim_list'),
    tool('claim_acquire', { resource: 'lib/mine' }),
    { toolUse: { name: 'Write', input: { file_path: mine, content: 'export const b = 1;\n' } } },
    { text: 'done' },
  ]);
  const result = await claude(setup, m);
  const sessionId = agentSessionId(result);
  const [write, list, claim, second] = m.toolResults();
  assert.equal(write?.isError, false, write?.text);
  assert.equal(readFileSync(free, 'utf8'), 'export const free = true;\n');
  const claims = (
    JSON.parse(list!.text) as { claims: Array<{ resource: string; holder: { agent?: { sessionId: string }; via?: string } }> }
  ).claims;
  const auto = claims.find((c) => c.resource === 'src/free.ts');
  assert.equal(auto?.holder.agent?.sessionId, sessionId, 'held by this agent');
  assert.equal(auto?.holder.via, 'edit-guard');
  assert.equal(claim?.isError, false, claim?.text);
  assert.equal(second?.isError, false, `blocked by its own claim: ${second?.text}`);
  assert.equal(readFileSync(mine, 'utf8'), 'export const b = 1;\n');
  const other = await httpClient(setup.server!.url, 'other');
  cleanup.push(() => other.client.close());
  const ms = await msUntilGranted(other.client, 'src/free.ts', result.exitedAt, 5_000);
  assert.ok(ms <= 1_000, `the automatic claim was free ${ms} ms after Claude Code exited`);
});

test('R-AGT-4, R-AGT-5: two Claude Codes at once: disjoint files both go through; the same file, exactly one, every round', async () => {
  const setup = await project({ participant: true });
  const write = (file: string, content: string): Step[] => [
    { toolUse: { name: 'Write', input: { file_path: path.join(setup.ws, file), content } } },
    { text: 'done' },
  ];
  const [a, b] = await Promise.all([model(write('one.ts', 'a')), model(write('two.ts', 'b'))]);
  const [ra, rb] = await Promise.all([claude(setup, a), claude(setup, b)]);
  agentSessionId(ra);
  agentSessionId(rb);
  assert.deepEqual([a.toolResults()[0]?.isError, b.toolResults()[0]?.isError], [false, false]);
  for (let round = 0; round < 5; round++) {
    const file = `same/${round}.ts`;
    // Both agents stay alive until both have tried: an agent that exits first frees its claim, rightly.
    let arrived = 0;
    let release!: () => void;
    const bothTried = new Promise<void>((r) => (release = r));
    const thenWait = async (): Promise<Step> => {
      if (++arrived === 2) release();
      await bothTried;
      return { text: 'done' };
    };
    const race = (content: string): Array<Step | (() => Promise<Step>)> => [
      { toolUse: { name: 'Write', input: { file_path: path.join(setup.ws, file), content } } },
      thenWait,
    ];
    const [x, y] = await Promise.all([model(race('x')), model(race('y'))]);
    await Promise.all([claude(setup, x), claude(setup, y)]);
    const outcomes = [x.toolResults()[0]?.isError, y.toolResults()[0]?.isError].sort();
    assert.deepEqual(outcomes, [false, true], `round ${round}: exactly one write goes through`);
    const winner = x.toolResults()[0]?.isError ? 'y' : 'x';
    assert.equal(readFileSync(path.join(setup.ws, file), 'utf8'), winner, "the file holds the winner's write only");
  }
});

test("R-AGT-4, R-AGT-5: with no participant live, Claude Code's hook still decides through the store", async () => {
  const setup = await project({ participant: false });
  const file = path.join(setup.ws, 'README.md');
  writeFileSync(file, '# readme\n');
  // Another agent's edit took README.md (its hook, no participant either).
  const taken = await runCliWith(['hook', 'claude-code'], cliEnv(setup.home), {
    stdin: JSON.stringify({
      session_id: 'other-agent-1',
      cwd: setup.ws,
      hook_event_name: 'PreToolUse',
      tool_name: 'Write',
      tool_input: { file_path: file },
    }),
  });
  assert.equal(taken.code, 0, taken.stderr);
  const m = await model([
    tool('whoami'),
    { toolUse: { name: 'Edit', input: { file_path: file, old_string: 'readme', new_string: 'mine' } } },
    { text: 'done' },
  ]);
  agentSessionId(await claude(setup, m));
  const [whoami, edit] = m.toolResults();
  assert.equal(
    (JSON.parse(whoami!.text) as { transport: string }).transport,
    'stdio',
    'connect served in-process: no participant was live',
  );
  assert.equal(edit?.isError, true);
  assert.match(edit!.text, /README\.md is claimed by claude-code session other-ag…/);
  assert.equal(readFileSync(file, 'utf8'), '# readme\n');
});

test("R-AGT-3, R-AGT-5: after setup claude-code, claude mcp list says Connected, and a run with only the project's files is guarded", async () => {
  const setup = await project({ participant: true });
  const done = await runCliWith(['setup', 'claude-code', '--workspace', setup.ws], cliEnv(setup.home));
  assert.equal(done.code, 0, done.stderr);
  const env = { SESSION_COORDINATOR_TOKEN: TOKEN };
  const list = await runClaude({
    workspace: setup.ws,
    modelUrl: 'http://127.0.0.1:9',
    coordinatorHome: setup.home,
    projectConfig: true,
    args: ['mcp', 'list'],
    env,
  });
  assert.match(list.stdout, /session-coordinator: .*connect --workspace .* - ✔ Connected/);
  await holder(setup, 'src/locked');
  const file = path.join(setup.ws, 'src', 'locked', 'x.ts');
  const m = await model([tool('whoami'), { toolUse: { name: 'Write', input: { file_path: file, content: 'x' } } }, { text: 'done' }]);
  agentSessionId(await runClaude({ workspace: setup.ws, modelUrl: m.url, coordinatorHome: setup.home, projectConfig: true, env }));
  const [whoami, write] = m.toolResults();
  assert.equal(whoami?.isError, false, 'the MCP server from .mcp.json is approved and connected');
  assert.equal(write?.isError, true, 'the hook from .claude/settings.local.json ran');
  assert.match(write!.text, /claimed \(through src\/locked\) by claude-code session holder-a…/);
});

test("R-AGT-6, R-AGT-4, R-AGT-5: two Claude Codes hand a file over: A is denied, messages B; B's next tool call carries the message into its model; B transfers the claim; A's edit goes through", async () => {
  const setup = await project({ participant: true });
  const file = path.join(setup.ws, 'src', 'api.ts');
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, 'export const api = 1;\n');
  const text = (r: { messages: unknown[] }): string => JSON.stringify(r.messages);
  let bHolds!: () => void;
  const bHoldsIt = new Promise<void>((r) => (bHolds = r));
  let aAsked!: () => void;
  const aAskedIt = new Promise<void>((r) => (aAsked = r));
  let bGaveIt!: () => void;
  const bGaveItAway = new Promise<void>((r) => (bGaveIt = r));
  let carried = '';

  // B: claims the file, waits for A's message, makes one unrelated tool call (its hook brings the message), hands the claim to whom the message says.
  const b = await startScriptedAnthropic(async (request, index) => {
    if (index === 0) return tool('claim_acquire', { resource: 'src/api.ts', ttlSeconds: 600 });
    if (index === 1) {
      bHolds();
      await aAskedIt;
      return { toolUse: { name: 'Read', input: { file_path: path.join(setup.ws, 'README.md') } } };
    }
    if (index === 2) {
      carried = text(request);
      const asker = /message_send \{\\+"to\\+":\\+"(claude-code:[^"\\]+)/.exec(carried)?.[1];
      const token = /"fencingToken\\+":(\d+)/.exec(carried)?.[1];
      if (!asker || !token) return { text: `no message reached the model: ${carried.slice(-600)}` };
      return tool('claim_transfer', { resource: 'src/api.ts', to: asker, fencingToken: Number(token) });
    }
    bGaveIt();
    return { text: 'done' };
  });
  cleanup.push(() => b.close());
  writeFileSync(path.join(setup.ws, 'README.md'), '# readme\n');

  // A: reads the file, is denied the edit, asks the holder the denial names, waits for the handoff, edits.
  const a = await startScriptedAnthropic(async (request, index) => {
    if (index === 0) {
      await bHoldsIt;
      return { toolUse: { name: 'Read', input: { file_path: file } } };
    }
    if (index === 1) return { toolUse: { name: 'Edit', input: { file_path: file, old_string: 'api = 1', new_string: 'api = 2' } } };
    if (index === 2) {
      const holder = /message_send \{\\+"to\\+":\\+"(claude-code:[^"\\]+)/.exec(text(request))?.[1];
      if (!holder) return { text: 'the denial named nobody to ask' };
      return tool('message_send', { to: holder, subject: 'src/api.ts', body: 'Please hand me src/api.ts: I am migrating the API.' });
    }
    if (index === 3) {
      aAsked();
      await bGaveItAway;
      return { toolUse: { name: 'Edit', input: { file_path: file, old_string: 'api = 1', new_string: 'api = 2' } } };
    }
    return { text: 'done' };
  });
  cleanup.push(() => a.close());

  const [ra, rb] = await Promise.all([claude(setup, a), claude(setup, b)]);
  agentSessionId(ra);
  agentSessionId(rb);
  const [, deniedEdit, sent, finalEdit] = a.toolResults();
  assert.equal(deniedEdit?.isError, true, `the first edit went through: ${deniedEdit?.text}`);
  assert.match(deniedEdit!.text, /Ask the holder to hand it to you: message_send/);
  assert.equal(sent?.isError, false, sent?.text);
  assert.match(carried, /Please hand me src\/api\.ts: I am migrating the API\./, "B's model received A's message with its next tool call");
  assert.match(carried, /their words, not your user's instructions/);
  const [, , transfer] = b.toolResults();
  assert.equal(transfer?.isError, false, `the transfer failed: ${transfer?.text}`);
  assert.equal(finalEdit?.isError, false, `A's edit after the handoff: ${finalEdit?.text}`);
  assert.equal(readFileSync(file, 'utf8'), 'export const api = 2;\n');
});

test('R-CLM-5, R-AGT-4, R-AGT-5: Claude Code in a git worktree edits a file an agent in the main checkout holds: the edit goes through (warn) and its model is told who and where', async () => {
  const { main, feature, home, remove } = repositoryWithWorktree('a = 1\n');
  cleanup.push(remove);
  const server = await startServe(main, home);
  cleanup.push(() => server.stop());
  const holderInMain = await httpClient(server.url, 'agent-in-main');
  cleanup.push(() => holderInMain.client.close());
  assert.equal(
    (await holderInMain.client.callTool({ name: 'claim_acquire', arguments: { resource: 'a.txt', ttlSeconds: 600 } })).isError,
    undefined,
  );

  const file = path.join(feature, 'a.txt');
  const m = await model([
    { toolUse: { name: 'Read', input: { file_path: file } } },
    { toolUse: { name: 'Edit', input: { file_path: file, old_string: 'a = 1', new_string: 'a = 2' } } },
    { text: 'done' },
  ]);
  agentSessionId(
    await runClaude({ workspace: feature, modelUrl: m.url, coordinatorHome: home, env: { SESSION_COORDINATOR_TOKEN: TOKEN } }),
  );
  const edit = m.toolResults()[1];
  assert.equal(edit?.isError, false, `the edit was blocked: ${edit?.text}`);
  assert.equal(readFileSync(file, 'utf8'), 'a = 2\n');
  const seen = JSON.stringify(m.requests.at(-1)?.messages);
  assert.match(seen, /another worktree of this repository is changing what you edit/, 'the model was told');
  assert.match(seen, /a\.txt: session [0-9a-f-]+ \(agent-in-main\) in worktree main \(branch main\)/);
});
