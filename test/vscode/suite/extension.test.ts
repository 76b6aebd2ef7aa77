// Runs inside a real VS Code extension host (code-server), against the installed extension.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import * as vscode from 'vscode';
import type { Container } from '../../../src/extension/container';
import { eventually } from './eventually';

const EXTENSION_ID = 'session-coordinator.session-coordinator';

async function container(): Promise<Container> {
  const ext = vscode.extensions.getExtension<Container>(EXTENSION_ID);
  assert.ok(ext, 'the extension is installed');
  const exports = ext.isActive ? ext.exports : await ext.activate();
  await exports.ready;
  assert.ok(exports.current, 'activation started a coordinator run');
  return exports;
}

async function httpAgent(c: Container, name: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const run = c.current!;
  const client = new Client({ name, version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(run.url!), {
    requestInit: { headers: { Authorization: `Bearer ${run.token}` } },
  });
  await client.connect(transport);
  return { client, transport };
}

suite('R-EXT: the extension in a real VS Code', () => {
  test('R-EXT-2: activation starts the coordinator on loopback and shows health in the status bar', async () => {
    const c = await container();
    assert.match(c.current!.url!, /^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    const state = await eventually('a panel state', () => c.state);
    assert.equal(state.status, 'ok', JSON.stringify(state.problems));
    const folder = vscode.workspace.workspaceFolders![0]!.uri.fsPath;
    assert.ok(existsSync(path.join(folder, '.session-coordinator', '.gitignore')), 'the shared store lives in the workspace');
  });

  test('R-EXT-6: every command is in the palette under "Session Coordinator"', async () => {
    const all = await vscode.commands.getCommands(true);
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    const contributed = ext.packageJSON.contributes.commands as Array<{ command: string; category: string }>;
    for (const id of [
      'showPanel',
      'setupAgent',
      'copyClientConfig',
      'endSession',
      'releaseClaim',
      'exportDiagnostics',
      'showLog',
      'restart',
    ]) {
      const command = `sessionCoordinator.${id}`;
      assert.ok(all.includes(command), `${command} is registered`);
      assert.equal(contributed.find((x) => x.command === command)?.category, 'Session Coordinator');
    }
  });

  test('R-MCP-5: copy client config gives a ready-to-paste config for each client', async () => {
    for (const client of ['claude-code', 'cline', 'cursor', 'vscode']) {
      const text = await vscode.commands.executeCommand<string>('sessionCoordinator.copyClientConfig', client);
      const json = JSON.parse(text) as Record<string, Record<string, { args: string[] }>>;
      const server = (json.mcpServers ?? json.servers)!['session-coordinator']!;
      assert.ok(server.args.includes('connect'), `${client}: runs connect`);
      assert.equal(await vscode.env.clipboard.readText(), text, `${client}: on the clipboard`);
      assert.doesNotMatch(text, /Bearer|token/i, 'no secret in a pasted config');
    }
  });

  test('R-EXT-6, R-EXT-5: a session shows up, and End Session ends it for its client', async () => {
    const c = await container();
    const agent = await httpAgent(c, 'ext-host-agent');
    const row = await eventually('the session in the panel state', () => c.state?.sessions.find((s) => s.clientName === 'ext-host-agent'));
    assert.equal(row.local, true);
    assert.equal(await vscode.commands.executeCommand('sessionCoordinator.endSession', row.id), true);
    await eventually('the session gone', () => !c.current!.coordinator.sessions.get(row.id));
    await assert.rejects(agent.client.callTool({ name: 'whoami', arguments: {} }), "the client's session ended");
  });

  test("R-EXT-6, R-CLM-4: Release Claim ends an agent's claim; claims reach the panel state", async () => {
    const c = await container();
    const agent = await httpAgent(c, 'claiming-agent');
    const granted = await agent.client.callTool({ name: 'claim_acquire', arguments: { resource: 'src/app.ts' } });
    const token = (granted.structuredContent as { fencingToken: number }).fencingToken;
    await eventually('the claim in the panel', () => c.state?.claims.find((x) => x.resource === 'src/app.ts'));
    assert.equal(await vscode.commands.executeCommand('sessionCoordinator.releaseClaim', 'src/app.ts', token), true);
    await eventually('the claim released', async () => (await c.current!.coordinator.store.listClaims()).length === 0);
    await agent.transport.terminateSession();
    await agent.client.close();
  });

  test('R-OBS-2, R-EXT-6: Export Diagnostics opens the snapshot as JSON', async () => {
    const snapshot = await vscode.commands.executeCommand<{ metrics: Record<string, unknown>; sessions: unknown[] }>(
      'sessionCoordinator.exportDiagnostics',
    );
    assert.ok(snapshot.metrics && 'sessions.total' in snapshot.metrics);
    const editor = vscode.window.activeTextEditor;
    assert.equal(editor?.document.languageId, 'json');
    assert.deepEqual(Object.keys(JSON.parse(editor!.document.getText())).sort(), Object.keys(snapshot).sort());
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  });

  test('R-EXT-2: a setting that needs a restart is applied live, by a coordinator restart', async () => {
    const c = await container();
    const before = c.current!;
    await vscode.workspace.getConfiguration('sessionCoordinator').update('sessions.max', 7, vscode.ConfigurationTarget.Workspace);
    const after = await eventually('a new run', () => (c.current && c.current !== before ? c.current : undefined));
    assert.equal(after.coordinator.options.sessions.maxSessions, 7);
    await vscode.workspace.getConfiguration('sessionCoordinator').update('sessions.max', undefined, vscode.ConfigurationTarget.Workspace);
    await eventually('restored', () => c.current?.coordinator.options.sessions.maxSessions === 200);
  });

  test("R-SEC-4: a repository's .vscode/settings.json cannot choose the store server, the project id or the allowed paths", async () => {
    const c = await container();
    const folder = vscode.workspace.workspaceFolders![0]!.uri.fsPath;
    // A server the planted URL points at: it must never be dialled.
    let dialled = 0;
    const trap = net.createServer((socket) => {
      dialled++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', () => resolve()));
    const port = (trap.address() as net.AddressInfo).port;
    const settingsFile = path.join(folder, '.vscode', 'settings.json');
    const before = existsSync(settingsFile) ? readFileSync(settingsFile, 'utf8') : undefined;
    mkdirSync(path.dirname(settingsFile), { recursive: true });
    // sessions.max, a setting a workspace may set, shows that VS Code read the file (the test would prove nothing otherwise).
    writeFileSync(
      settingsFile,
      JSON.stringify({
        'sessionCoordinator.store.url': `redis://127.0.0.1:${port}/0`,
        'sessionCoordinator.store.projectId': 'planted',
        'sessionCoordinator.allowedPaths': ['/'],
        'sessionCoordinator.sessions.max': 9,
      }),
    );
    try {
      const run = await eventually('a run with the planted file read', () =>
        c.current?.coordinator.options.sessions.maxSessions === 9 ? c.current : undefined,
      );
      // ...and the coordinator did not use any of it.
      assert.equal(run.coordinator.store.describe().kind, 'file');
      assert.ok(!run.coordinator.roots.allowedRoots.includes('/'), `allowed roots: ${run.coordinator.roots.allowedRoots.join(', ')}`);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(dialled, 0, 'the planted Redis URL was dialled');
    } finally {
      if (before === undefined) rmSync(settingsFile);
      else writeFileSync(settingsFile, before);
      trap.close();
    }
    await eventually('the settings restored', () => c.current?.coordinator.options.sessions.maxSessions === 200);
  });

  test('R-EXT-6: Restart Coordinator starts a fresh run', async () => {
    const c = await container();
    const before = c.current;
    await vscode.commands.executeCommand('sessionCoordinator.restart');
    assert.ok(c.current && c.current !== before);
    assert.equal((await eventually('state', () => c.state)).status, 'ok');
  });

  test('R-AGT-3, R-AGT-4: Set Up Agent writes the agent files, and the hook in .github/hooks, run as VS Code runs it, is decided by this window', async () => {
    const c = await container();
    const folder = vscode.workspace.workspaceFolders![0]!.uri.fsPath;
    const results = await vscode.commands.executeCommand<Array<{ file: string; action: string }>>(
      'sessionCoordinator.setupAgent',
      'vscode',
    );
    assert.deepEqual(
      results.map((r) => [path.relative(folder, r.file), r.action]),
      [
        [path.join('.vscode', 'mcp.json'), 'created'],
        [path.join('.github', 'hooks', 'session-coordinator.json'), 'created'],
      ],
    );
    const again = await vscode.commands.executeCommand<Array<{ action: string }>>('sessionCoordinator.setupAgent', 'vscode');
    assert.deepEqual(
      again.map((r) => r.action),
      ['unchanged', 'unchanged'],
    );
    const hooks = JSON.parse(readFileSync(path.join(folder, '.github', 'hooks', 'session-coordinator.json'), 'utf8')) as {
      hooks: Record<string, Array<{ type: string; command: string }>>;
    };
    const command = hooks.hooks.PreToolUse![0]!.command;
    // Another agent holds a folder; a VS Code agent session edits a file in it.
    const holder = await httpAgent(c, 'holder-agent');
    await holder.client.callTool({ name: 'claim_acquire', arguments: { resource: 'guarded' } });
    // The input VS Code 1.139's agent sends (snake_case; the tool's model-facing name).
    const input = JSON.stringify({
      timestamp: new Date().toISOString(),
      hook_event_name: 'PreToolUse',
      session_id: 'vscode-chat-1',
      cwd: folder,
      tool_name: 'replace_string_in_file',
      tool_input: { filePath: path.join(folder, 'guarded', 'a.ts'), oldString: 'a', newString: 'b' },
      tool_use_id: 'call-1',
    });
    // VS Code runs a hook's command line through a shell, with the JSON on stdin. Not spawnSync:
    // the window that decides lives in this very extension host.
    const run = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn('/bin/sh', ['-c', command], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (status) => resolve({ status, stdout, stderr }));
      child.stdin.end(input);
    });
    assert.equal(run.status, 0, run.stderr);
    const answer = JSON.parse(run.stdout) as { hookSpecificOutput: { permissionDecision: string; permissionDecisionReason: string } };
    assert.equal(answer.hookSpecificOutput.permissionDecision, 'deny');
    assert.match(
      answer.hookSpecificOutput.permissionDecisionReason,
      /guarded\/a\.ts is claimed \(through guarded\) by session .* \(holder-agent\)/,
    );
    const blocked = await eventually('the blocked edit in the panel', () =>
      c.state && c.state.guard.blocked > 0 ? c.state.guard : undefined,
    );
    assert.equal(blocked.recent[0]?.resource, 'guarded/a.ts');
    await holder.transport.terminateSession();
    await holder.client.close();
  });

  test("R-MCP-5: VS Code's own MCP client finds our server through the definition provider and calls whoami", async function () {
    const c = await container();
    // The provider needs a moment after registration before startServer does anything.
    await new Promise((r) => setTimeout(r, 1500));
    await vscode.commands.executeCommand('workbench.mcp.startServer', `${EXTENSION_ID}/Session Coordinator`);
    const tool = await eventually('our tools in vscode.lm.tools', () => vscode.lm.tools.find((t) => /whoami$/.test(t.name)), 30_000);
    const result = await vscode.lm.invokeTool(tool.name, { input: {}, toolInvocationToken: undefined });
    const text = result.content.map((p) => (p instanceof vscode.LanguageModelTextPart ? p.value : '')).join('');
    assert.match(text, /sessionId/);
    const session = await eventually("VS Code's session in the coordinator", () =>
      c.current!.coordinator.sessions.list().find((s) => s.transport === 'http' && !/agent/.test(s.client.name)),
    );
    assert.ok(session.client.name.length > 0);
  });
});
