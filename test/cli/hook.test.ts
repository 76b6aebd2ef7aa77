import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { msUntilGranted, relayAgent } from '../support/agentExit.js';
import { runCliWith, type CliResult } from '../support/cliProcesses.js';
import { httpClient } from '../support/mcpClients.js';
import { git } from '../support/gitRepository.js';
import { cliEnv, startServe, type ServeHandle } from '../support/processes.js';
import { workspaceAndHome } from '../support/workspace.js';

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

const folders = (): { ws: string; home: string } => workspaceAndHome(cleanup);

/** What Claude Code sends its PreToolUse hook before an edit (../shared/docs/agents.md). */
function claudeEdit(ws: string, agent: string, file: string, tool = 'Edit'): string {
  return JSON.stringify({
    session_id: agent,
    cwd: ws,
    hook_event_name: 'PreToolUse',
    tool_name: tool,
    tool_input: { file_path: path.join(ws, file), old_string: 'a', new_string: 'b' },
    tool_use_id: 'toolu_1',
  });
}

function runHook(home: string, stdin: string, args: string[] = [], client = 'claude-code'): Promise<CliResult> {
  return runCliWith(['hook', client, ...args], cliEnv(home), { stdin, timeoutMs: 15_000 });
}

interface ListedClaim {
  resource: string;
  holder: { sessionId: string; agent?: { kind: string; sessionId: string }; via?: string };
}

async function claimsOf(server: ServeHandle): Promise<ListedClaim[]> {
  const c = await httpClient(server.url, 'claims-reader');
  try {
    return ((await c.client.callTool({ name: 'claim_list', arguments: {} })).structuredContent as { claims: ListedClaim[] }).claims;
  } finally {
    await c.transport.terminateSession();
    await c.client.close();
  }
}

test("R-AGT-4: through a live participant, an edit inside another agent's claimed folder is denied with the holder; a free file is claimed for the agent; its own claims never block it", async () => {
  const { ws, home } = folders();
  const server = await startServe(ws, home);
  cleanup.push(() => server.stop());
  const alice = await relayAgent(ws, home, { CLAUDE_CODE_SESSION_ID: 'alice-0001' }, 'claude-code');
  cleanup.push(() => alice.client.close());
  const held = await alice.client.callTool({ name: 'claim_acquire', arguments: { resource: 'src/locked', ttlSeconds: 600 } });
  assert.equal(held.isError, undefined);

  const denied = await runHook(home, claudeEdit(ws, 'bob-0002', 'src/locked/a.ts'));
  assert.equal(denied.code, 2, 'exit 2: Claude Code stops the tool and hands stderr to the model');
  assert.match(denied.stderr, /src\/locked\/a\.ts is claimed \(through src\/locked\) by claude-code session alice-00/);
  assert.match(denied.stderr, /until \d{4}-\d\d-\d\dT/, 'with the expiry');
  assert.match(
    denied.stderr,
    /Ask the holder to hand it to you: message_send \{"to":"claude-code:[^"]+"\} \(it can claim_transfer it\), or wait for the claim to end/,
  );
  assert.equal(
    (await claimsOf(server)).some((c) => c.holder.agent?.sessionId === 'bob-0002'),
    false,
    'a denied edit claims nothing',
  );

  const allowed = await runHook(home, claudeEdit(ws, 'bob-0002', 'src/free.ts', 'Write'));
  assert.equal(allowed.code, 0, allowed.stderr);
  const auto = (await claimsOf(server)).find((c) => c.resource === 'src/free.ts');
  assert.deepEqual(auto?.holder.agent, { kind: 'claude-code', sessionId: 'bob-0002' });
  assert.equal(auto?.holder.via, 'edit-guard');

  // Alice edits inside her own MCP claim; Bob edits his auto-claimed file again (renewed, not blocked).
  assert.equal((await runHook(home, claudeEdit(ws, 'alice-0001', 'src/locked/a.ts'))).code, 0);
  assert.equal(
    (await claimsOf(server)).some((c) => c.resource === 'src/locked/a.ts'),
    false,
    'covered by her folder claim: no second claim',
  );
  assert.equal((await runHook(home, claudeEdit(ws, 'bob-0002', 'src/free.ts'))).code, 0);
  // And now Alice is the one refused on Bob's file.
  const aliceDenied = await runHook(home, claudeEdit(ws, 'alice-0001', 'src/free.ts'));
  assert.equal(aliceDenied.code, 2);
  assert.match(aliceDenied.stderr, /claude-code session bob-0002/);

  // Bob's session ends: his automatic claims go.
  const end = await runHook(home, JSON.stringify({ session_id: 'bob-0002', cwd: ws, hook_event_name: 'SessionEnd', reason: 'exit' }));
  assert.equal(end.code, 0);
  assert.equal(
    (await claimsOf(server)).some((c) => c.holder.agent?.sessionId === 'bob-0002'),
    false,
  );
  const status = JSON.parse((await runCliWith(['status', '--json', '--workspace', ws], cliEnv(home))).stdout) as {
    participants: Array<{
      snapshot: { metrics: Record<string, number>; blockedEdits: Array<{ resource: string; holder: { agent?: { sessionId: string } } }> };
    }>;
  };
  const snap = status.participants[0]!.snapshot;
  assert.equal(snap.metrics['guard.denied'], 2);
  assert.ok(snap.metrics['guard.allowed']! >= 3);
  assert.deepEqual(
    snap.blockedEdits.map((b) => [b.resource, b.holder.agent?.sessionId]),
    [
      ['src/free.ts', 'bob-0002'],
      ['src/locked/a.ts', 'alice-0001'],
    ],
  );
});

test("R-AGT-4: an automatic claim goes when the agent's MCP session ends (its relay killed), within 1 s", async () => {
  const { ws, home } = folders();
  const server = await startServe(ws, home);
  cleanup.push(() => server.stop());
  const agent = await relayAgent(ws, home, { CLAUDE_CODE_SESSION_ID: 'carol-0003' }, 'claude-code');
  assert.equal((await runHook(home, claudeEdit(ws, 'carol-0003', 'lib/util.ts', 'Write'))).code, 0);
  const auto = (await claimsOf(server)).find((c) => c.resource === 'lib/util.ts');
  assert.equal(auto?.holder.via, 'edit-guard');
  const other = await httpClient(server.url, 'other');
  cleanup.push(() => other.client.close());
  const killedAt = Date.now();
  process.kill(agent.pid, 'SIGKILL');
  const ms = await msUntilGranted(other.client, 'lib/util.ts', killedAt, 5_000);
  assert.ok(ms <= 1_000, `free after ${ms} ms`);
});

test('R-AGT-4: with no participant live, the hook decides through the store itself', async () => {
  const { ws, home } = folders();
  const first = await runHook(home, claudeEdit(ws, 'dave-0004', 'README.md', 'Write'));
  assert.equal(first.code, 0, first.stderr);
  assert.ok(existsSync(path.join(ws, '.session-coordinator')), 'the workspace store holds the claim');
  const second = await runHook(home, claudeEdit(ws, 'erin-0005', 'README.md'));
  assert.equal(second.code, 2);
  assert.match(second.stderr, /README\.md is claimed by claude-code session dave-000/);
  assert.equal((await runHook(home, claudeEdit(ws, 'dave-0004', 'README.md'))).code, 0, 'never blocked by its own claim');
  // A participant that starts later sees the same claim.
  const server = await startServe(ws, home);
  cleanup.push(() => server.stop());
  assert.equal((await claimsOf(server)).find((c) => c.resource === 'README.md')?.holder.agent?.sessionId, 'dave-0004');
  assert.equal((await runHook(home, JSON.stringify({ session_id: 'dave-0004', cwd: ws, hook_event_name: 'SessionEnd' }))).code, 0);
  assert.deepEqual(await claimsOf(server), []);
});

test("R-AGT-4, R-CLI-2: hook --home asks the participants live in that install, whatever the agent's environment says (setup writes it for a non-default install, e.g. the demo window)", async () => {
  const { ws, home } = folders();
  const server = await startServe(ws, home);
  cleanup.push(() => server.stop());
  // The agent's own environment names no install: its default one (under a HOME of its own) has no live participant.
  const agentHome = folders().home;
  const env = cliEnv(home, { SESSION_COORDINATOR_HOME: undefined, XDG_STATE_HOME: undefined, HOME: agentHome });
  const allowed = (): Promise<number> => guardCount(ws, home);
  const before = await allowed();
  const lost = await runCliWith(['hook', 'claude-code'], env, { stdin: claudeEdit(ws, 'gus-0007', 'a.ts', 'Write'), timeoutMs: 15_000 });
  assert.equal(lost.code, 0, lost.stderr);
  assert.equal(await allowed(), before, 'without --home the hook never reached the live participant (it used the store)');
  const found = await runCliWith(['hook', 'claude-code', '--home', home], env, {
    stdin: claudeEdit(ws, 'gus-0007', 'b.ts', 'Write'),
    timeoutMs: 15_000,
  });
  assert.equal(found.code, 0, found.stderr);
  assert.equal(await allowed(), before + 1, 'with --home the live participant decided');
});

/** How many edits the live participant of `ws` (in install `home`) has allowed. */
async function guardCount(ws: string, home: string): Promise<number> {
  const status = JSON.parse((await runCliWith(['status', '--json', '--workspace', ws], cliEnv(home))).stdout) as {
    participants: Array<{ snapshot: { metrics: Record<string, number> } }>;
  };
  return status.participants[0]!.snapshot.metrics['guard.allowed'] ?? 0;
}

test("R-AGT-4: a participant on a folder inside the workspace guards the workspace only when it is the same repository; a nested project's window never lets the outer project's edits through", async () => {
  // The outer workspace is a repository; a nested repository inside it has a live participant (a window on it).
  const { ws, home } = folders();
  git(ws, 'init', '-q');
  const nested = path.join(ws, 'vendor', 'lib');
  mkdirSync(nested, { recursive: true });
  git(nested, 'init', '-q');
  const other = await startServe(nested, home);
  cleanup.push(() => other.stop());
  const first = await runHook(home, claudeEdit(ws, 'hana-0008', 'main.ts', 'Write'));
  assert.equal(first.code, 0, first.stderr);
  const second = await runHook(home, claudeEdit(ws, 'ivan-0009', 'main.ts'));
  assert.equal(second.code, 2, `the outer project's own store decided, so the first agent's claim holds: ${second.stdout}${second.stderr}`);
  assert.equal(await guardCount(nested, home), 0, 'the nested project was never asked');
  // A window on a subfolder of the same repository shares its store: it is asked, and decides.
  const sub = path.join(ws, 'src');
  mkdirSync(sub);
  const window = await startServe(sub, home);
  cleanup.push(() => window.stop());
  const third = await runHook(home, claudeEdit(ws, 'hana-0008', 'main.ts'));
  assert.equal(third.code, 0, third.stderr);
  assert.equal(await guardCount(sub, home), 1, "the same repository's participant decided");
});

test('R-AGT-4: two agents editing the same file at once: exactly one goes through, every time, over 50 rounds', async () => {
  const { ws, home } = folders();
  const server = await startServe(ws, home);
  cleanup.push(() => server.stop());
  let winners = 0;
  for (let round = 0; round < 50; round++) {
    const file = `race/${round}.ts`;
    const [a, b] = await Promise.all([
      runHook(home, claudeEdit(ws, 'racer-a', file, 'Write')),
      runHook(home, claudeEdit(ws, 'racer-b', file, 'Write')),
    ]);
    const codes = [a.code, b.code].sort();
    assert.deepEqual(codes, [0, 2], `round ${round}: ${a.code}/${b.code} ${a.stderr} ${b.stderr}`);
    winners++;
  }
  assert.equal(winners, 50);
  // Disjoint files at the same time: both go through.
  const [x, y] = await Promise.all([
    runHook(home, claudeEdit(ws, 'racer-a', 'x.ts', 'Write')),
    runHook(home, claudeEdit(ws, 'racer-b', 'y.ts', 'Write')),
  ]);
  assert.deepEqual([x.code, y.code], [0, 0]);
});

test('R-AGT-4: bad hook input gets a clear message and the documented exit code, and writes nothing', async () => {
  const { ws, home } = folders();
  const before = (): string[] =>
    existsSync(path.join(ws, '.session-coordinator'))
      ? readdirSync(path.join(ws, '.session-coordinator'), { recursive: true }).map(String).sort()
      : [];
  const notJson = await runHook(home, 'this is not json', ['--workspace', ws]);
  assert.equal(notJson.code, 0, 'not strict: the edit goes through');
  assert.match(JSON.parse(notJson.stdout).systemMessage, /could not check this edit: its hook input is unreadable/);
  const strict = await runHook(home, 'this is not json', ['--workspace', ws, '--strict']);
  assert.equal(strict.code, 2, '--strict denies what it cannot check');
  assert.match(strict.stderr, /could not check this edit/);
  // The workspace setting turns strict on too.
  mkdirSync(path.join(ws, '.vscode'));
  writeFileSync(path.join(ws, '.vscode', 'settings.json'), '{\n  // guard every edit\n  "sessionCoordinator.guard.strict": true\n}\n');
  assert.equal((await runHook(home, '[1,2', ['--workspace', ws])).code, 2);
  const unknownEvent = await runHook(home, JSON.stringify({ session_id: 's1', hook_event_name: 'Notification', message: 'hi' }));
  assert.deepEqual([unknownEvent.code, unknownEvent.stdout, unknownEvent.stderr], [0, '', ''], 'not an edit: nothing to say');
  const notAnEdit = await runHook(
    home,
    JSON.stringify({ session_id: 's1', cwd: ws, hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input: { command: 'ls' } }),
  );
  assert.deepEqual([notAnEdit.code, notAnEdit.stdout], [0, '']);
  const outside = await runHook(
    home,
    JSON.stringify({
      session_id: 's1',
      cwd: ws,
      hook_event_name: 'PreToolUse',
      tool_name: 'Write',
      tool_input: { file_path: '/etc/hosts-copy' },
    }),
  );
  assert.equal(outside.code, 0, 'outside the workspace: not ours to guard');
  const unknownClient = await runHook(home, claudeEdit(ws, 's1', 'a.ts'), [], 'no-such-agent');
  assert.equal(unknownClient.code, 1, 'a misconfigured hook exits 1, which no client treats as deny');
  assert.match(unknownClient.stderr, /needs a client, one of claude-code/);
  const huge = await runHook(
    home,
    JSON.stringify({
      session_id: 's1',
      cwd: ws,
      hook_event_name: 'PreToolUse',
      tool_name: 'Write',
      tool_input: { file_path: path.join(ws, 'big.txt'), content: 'x'.repeat(17 * 1024 * 1024) },
    }),
    ['--workspace', ws],
  );
  assert.equal(huge.code, 2, 'strict (from the workspace setting): an input too big to read is denied');
  assert.match(huge.stderr, /over 16777216 bytes/);
  assert.deepEqual(before(), [], 'nothing was written in the workspace store');
});

test('R-AGT-4: each client gets its own answer format', async () => {
  const { ws, home } = folders();
  const hold = await runHook(home, claudeEdit(ws, 'holder-1', 'shared.ts', 'Write'), ['--workspace', ws]);
  assert.equal(hold.code, 0);
  const file = path.join(ws, 'shared.ts');
  const gemini = await runHook(
    home,
    JSON.stringify({
      session_id: 'g-1',
      cwd: ws,
      hook_event_name: 'BeforeTool',
      tool_name: 'replace',
      tool_input: { file_path: file, old_string: 'a', new_string: 'b' },
    }),
    [],
    'gemini',
  );
  assert.equal(gemini.code, 2);
  assert.match(gemini.stderr, /shared\.ts is claimed by claude-code session holder-1/);
  // What VS Code 1.139 sends (snake_case, the model-facing tool names; see hookFormats.ts).
  const vscodeCall = (tool_name: string, tool_input: unknown): string =>
    JSON.stringify({
      timestamp: new Date().toISOString(),
      hook_event_name: 'PreToolUse',
      session_id: 'v-1',
      cwd: ws,
      tool_name,
      tool_input,
      tool_use_id: 'call-1',
    });
  const vscode = await runHook(
    home,
    vscodeCall('replace_string_in_file', { filePath: file, oldString: 'a', newString: 'b' }),
    [],
    'vscode',
  );
  assert.equal(vscode.code, 0);
  assert.equal(JSON.parse(vscode.stdout).hookSpecificOutput.permissionDecision, 'deny');
  assert.equal(
    JSON.parse(vscode.stdout).hookSpecificOutput.hookEventName,
    'PreToolUse',
    'VS Code drops a decision under any other event name',
  );
  const vscodeMulti = await runHook(
    home,
    vscodeCall('multi_replace_string_in_file', {
      explanation: 'x',
      replacements: [
        { filePath: path.join(ws, 'mine.ts'), oldString: 'a', newString: 'b' },
        { filePath: file, oldString: 'a', newString: 'b' },
      ],
    }),
    [],
    'vscode',
  );
  assert.match(
    JSON.parse(vscodeMulti.stdout).hookSpecificOutput.permissionDecisionReason,
    /shared\.ts is claimed/,
    'every file of a multi-replace is checked',
  );
  const vscodeMove = await runHook(
    home,
    vscodeCall('apply_patch', {
      input: `*** Begin Patch\n*** Update File: ${path.join(ws, 'old.ts')}\n*** Move to: ${file}\n@@\n-a\n+b\n*** End Patch`,
    }),
    [],
    'vscode',
  );
  assert.equal(
    JSON.parse(vscodeMove.stdout).hookSpecificOutput.permissionDecision,
    'deny',
    'a patch moving a file onto a held one is denied',
  );
  const vscodeMkdir = await runHook(home, vscodeCall('create_directory', { dirPath: file }), [], 'vscode');
  assert.equal(JSON.parse(vscodeMkdir.stdout).hookSpecificOutput.permissionDecision, 'deny');
  const vscodeOther = await runHook(home, vscodeCall('run_in_terminal', { command: 'ls' }), [], 'vscode');
  assert.deepEqual([vscodeOther.code, vscodeOther.stdout], [0, ''], 'VS Code ignores matchers: the guard filters tools itself');
  // VS Code also runs the hooks in .claude/settings.json, with its own tool names.
  const claudeFileInVscode = await runHook(home, vscodeCall('create_file', { filePath: file, content: 'x' }), [], 'claude-code');
  assert.equal(claudeFileInVscode.code, 2);
  assert.match(claudeFileInVscode.stderr, /shared\.ts is claimed/);
  const cline = await runHook(
    home,
    JSON.stringify({ taskId: 'task-1', preToolUse: { toolName: 'write_to_file', parameters: { path: 'shared.ts', content: 'x' } } }),
    ['--workspace', ws],
    'cline',
  );
  assert.equal(JSON.parse(cline.stdout).cancel, true);
  const cursor = await runHook(
    home,
    JSON.stringify({ conversation_id: 'c-1', cwd: ws, hook_event_name: 'preToolUse', tool_name: 'Write', tool_input: { file_path: file } }),
    [],
    'cursor',
  );
  assert.equal(JSON.parse(cursor.stdout).permission, 'deny');
  const free = await runHook(
    home,
    JSON.stringify({ taskId: 'task-1', preToolUse: { toolName: 'write_to_file', parameters: { path: 'mine.ts', content: 'x' } } }),
    ['--workspace', ws],
    'cline',
  );
  assert.equal(JSON.parse(free.stdout).cancel, false);
});
