import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { runCliWith } from '../support/cliProcesses.js';
import { whoami } from '../support/mcpClients.js';
import { cliEnv } from '../support/processes.js';
import { tempDir } from '../support/workspace.js';

const ws = tempDir();
const home = tempDir();
const elsewhere = tempDir();
after(async () => {
  await ws.remove();
  await home.remove();
  await elsewhere.remove();
});

const EXPECTED: Record<string, { file: string; key: 'mcpServers' | 'servers'; type?: string }> = {
  'claude-code': { file: '.mcp.json', key: 'mcpServers', type: 'stdio' },
  cline: { file: 'cline_mcp_settings.json', key: 'mcpServers' },
  cursor: { file: '.cursor/mcp.json', key: 'mcpServers' },
  vscode: { file: '.vscode/mcp.json', key: 'servers', type: 'stdio' },
  gemini: { file: '.gemini/settings.json', key: 'mcpServers' },
};

interface ServerEntry {
  command: string;
  args: string[];
  type?: string;
}

/** Runs `config <client>`; returns the JSON (all of stdout, R-AGT-3), the note on stderr, and its one server entry. */
async function configFor(
  client: string,
  args: string[] = ['--workspace', ws.path],
  cwd?: string,
): Promise<{ json: Record<string, unknown>; server: ServerEntry; comment: string }> {
  const res = await runCliWith(['config', client, ...args], cliEnv(home.path), { cwd });
  assert.equal(res.code, 0, `config ${client}: ${res.stderr}`);
  const comment = res.stderr;
  let json: Record<string, unknown> = {};
  assert.doesNotThrow(
    () => (json = JSON.parse(res.stdout) as Record<string, unknown>),
    `config ${client}: stdout is the JSON alone, so > file works:\n${res.stdout}`,
  );
  const servers = json[EXPECTED[client]!.key] as Record<string, ServerEntry> | undefined;
  assert.ok(servers, `config ${client} has a "${EXPECTED[client]!.key}" object`);
  const server = servers['session-coordinator'];
  assert.ok(server, `config ${client} names the server "session-coordinator"`);
  return { json, server, comment: comment! };
}

function assertLaunchesConnect(server: ServerEntry, workspace: string, what: string): void {
  assert.equal(typeof server.command, 'string', `${what}: command`);
  assert.ok(path.isAbsolute(server.command), `${what}: an absolute command, so the client's PATH does not matter: ${server.command}`);
  assert.ok(Array.isArray(server.args) && server.args.every((a) => typeof a === 'string'), `${what}: args is a list of strings`);
  assert.ok(server.args.includes('connect'), `${what}: args run connect (relay to a live window, else serve in-process)`);
  assert.ok(!server.args.includes('--http'), `${what}: a client-started server speaks stdio only`);
  const at = server.args.indexOf('--workspace');
  assert.ok(at >= 0, `${what}: args include --workspace`);
  assert.equal(server.args[at + 1], workspace, `${what}: the workspace follows --workspace`);
}

for (const client of Object.keys(EXPECTED)) {
  test(`R-CLI-3, R-AGT-3: config ${client} prints only JSON launching connect on the workspace, and names ${EXPECTED[client]!.file} on stderr`, async () => {
    const { server, comment, json } = await configFor(client);
    assert.ok(comment.includes(EXPECTED[client]!.file), `comment names the file to paste into: ${comment}`);
    // The setup it suggests writes the same config: this workspace and install (and --global where the file is outside).
    const global = client === 'cline' ? ' --global' : '';
    assert.ok(comment.includes(`setup ${client} --workspace ${ws.path} --home ${home.path}${global})`), `the setup line: ${comment}`);
    assertLaunchesConnect(server, ws.path, client);
    if (EXPECTED[client]!.type) assert.equal(server.type, EXPECTED[client]!.type);
    assert.doesNotMatch(JSON.stringify(json), /token|Bearer|127\.0\.0\.1/i, 'no token or port in a pasted config');
  });
}

test('R-CLI-3: config resolves a relative --workspace, and defaults to the current folder', async () => {
  const relative = await configFor('cursor', ['--workspace', '.'], ws.path);
  assertLaunchesConnect(relative.server, ws.path, '--workspace .');
  const implicit = await configFor('cursor', [], ws.path);
  assertLaunchesConnect(implicit.server, ws.path, 'no --workspace');
});

test("R-CLI-3: each config's command+args really work: the SDK stdio client starts exactly that, from another folder, and whoami reports the workspace as root", async () => {
  for (const client of Object.keys(EXPECTED)) {
    const { server } = await configFor(client);
    const mcp = new Client({ name: `via-${client}-config`, version: '1' });
    const transport = new StdioClientTransport({
      command: server.command,
      args: server.args,
      cwd: elsewhere.path,
      env: cliEnv(home.path) as Record<string, string>,
      stderr: 'pipe',
    });
    try {
      await mcp.connect(transport);
      const me = await whoami(mcp);
      assert.equal(me.root, ws.path, `${client}: root`);
      assert.equal(me.transport, 'stdio', `${client}: transport`);
      assert.equal(me.client.name, `via-${client}-config`);
      const tools = (await mcp.listTools()).tools.map((t) => t.name);
      assert.ok(
        tools.includes('whoami') && tools.includes('session_resume') && tools.includes('session_create_child'),
        `${client}: tools ${tools.join(', ')}`,
      );
    } finally {
      await mcp.close();
    }
  }
});

test('R-CLI-3: config passes the install on (--home, absolute) when SESSION_COORDINATOR_HOME names one, and nothing when it does not', async () => {
  const named = await configFor('claude-code');
  assert.equal(named.server.args[named.server.args.indexOf('--home') + 1], home.path, 'the install folder follows --home');
  const res = await runCliWith(
    ['config', 'claude-code', '--workspace', ws.path],
    cliEnv(home.path, { SESSION_COORDINATOR_HOME: undefined }),
  );
  assert.equal(res.code, 0, res.stderr);
  const args = (JSON.parse(res.stdout) as { mcpServers: Record<string, ServerEntry> }).mcpServers['session-coordinator']!.args;
  assert.equal(args.includes('--home'), false, `the default install is not named: ${args.join(' ')}`);
});

test('R-AGT-3: config codex prints the TOML table Codex reads, alone on stdout', async () => {
  const res = await runCliWith(['config', 'codex', '--workspace', ws.path], cliEnv(home.path));
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /^\[mcp_servers\.session-coordinator\]\ncommand = "[^"]+"\nargs = \[.*"connect","--workspace",/);
  assert.match(res.stderr, /config\.toml/);
});
