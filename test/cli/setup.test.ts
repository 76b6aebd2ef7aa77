import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { runCliWith } from '../support/cliProcesses.js';
import { cliEnv } from '../support/processes.js';
import { workspaceAndHome } from '../support/workspace.js';

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

const folders = (): { ws: string; home: string } => workspaceAndHome(cleanup);

function setup(ws: string, home: string, ...args: string[]): ReturnType<typeof runCliWith> {
  return runCliWith(['setup', ...args, '--workspace', ws], cliEnv(home, { HOME: home }));
}

const read = (file: string): unknown => JSON.parse(readFileSync(file, 'utf8'));
/** Every file under a folder, with its bytes: to prove nothing changed. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir, { recursive: true }).map(String)) {
    const full = path.join(dir, f);
    if (statSync(full).isFile()) out[f] = readFileSync(full, 'utf8');
  }
  return out;
}

const FILES: Record<string, string[]> = {
  'claude-code': ['.mcp.json', '.claude/settings.local.json'],
  vscode: ['.vscode/mcp.json', '.github/hooks/session-coordinator.json'],
  cursor: ['.cursor/mcp.json', '.cursor/hooks.json'],
  gemini: ['.gemini/settings.json'],
  cline: ['.clinerules/hooks/PreToolUse'],
};

for (const [client, files] of Object.entries(FILES)) {
  test(`R-AGT-3: setup ${client} writes its project files, then a second run changes nothing`, async () => {
    const { ws, home } = folders();
    const first = await setup(ws, home, client);
    assert.equal(first.code, 0, first.stderr);
    for (const f of files) {
      assert.ok(existsSync(path.join(ws, f)), `${f} written`);
      assert.match(first.stdout, new RegExp(`^created ${f.replace(/[.]/g, '\\.')}`, 'm'));
      const text = readFileSync(path.join(ws, f), 'utf8');
      assert.match(text, new RegExp(`connect|hook ${client}`), `${f} runs our CLI`);
      assert.doesNotMatch(text, /token|Bearer|test-token/i, `${f}: no token in a project file`);
    }
    const before = snapshot(ws);
    const second = await setup(ws, home, client);
    assert.equal(second.code, 0);
    for (const f of files) assert.match(second.stdout, new RegExp(`^unchanged ${f.replace(/[.]/g, '\\.')}`, 'm'));
    assert.deepEqual(snapshot(ws), before, 'idempotent: byte for byte');
  });
}

test("R-AGT-3, R-AGT-4: setup claude-code merges into the user's settings: their keys and hooks stay, ours is added once and replaced, never doubled", async () => {
  const { ws, home } = folders();
  mkdirSync(path.join(ws, '.claude'));
  const settings = path.join(ws, '.claude', 'settings.local.json');
  const theirs = { type: 'command', command: 'echo mine' };
  writeFileSync(
    settings,
    JSON.stringify({
      permissions: { allow: ['Bash(ls)'] },
      hooks: { PreToolUse: [{ matcher: 'Bash', hooks: [theirs] }] },
      enabledMcpjsonServers: ['other'],
    }),
  );
  writeFileSync(path.join(ws, '.mcp.json'), JSON.stringify({ mcpServers: { other: { command: 'other-server' } } }));
  assert.equal((await setup(ws, home, 'claude-code')).code, 0);
  // An older entry of ours (another CLI path) is replaced, not added to.
  const merged = read(settings) as {
    permissions: unknown;
    enabledMcpjsonServers: string[];
    hooks: Record<string, Array<{ matcher?: string; hooks: Array<{ command: string; timeout?: number }> }>>;
  };
  assert.deepEqual(merged.permissions, { allow: ['Bash(ls)'] });
  assert.deepEqual(merged.enabledMcpjsonServers, ['other', 'session-coordinator']);
  assert.deepEqual(merged.hooks.PreToolUse![0], { matcher: 'Bash', hooks: [theirs] }, 'their hook first, untouched');
  assert.equal(merged.hooks.PreToolUse![1]!.matcher, '*', 'every tool: edits are guarded, and any call delivers messages');
  // The install is passed on: the tests name one (SESSION_COORDINATOR_HOME), as the demo window does.
  assert.match(merged.hooks.PreToolUse![1]!.hooks[0]!.command, /" hook claude-code --workspace "[^"]+" --home "[^"]+"$/);
  assert.equal(merged.hooks.SessionEnd!.length, 1);
  merged.hooks.PreToolUse![1]!.hooks[0]!.command = '"/old/node" "/old/cli.js" hook claude-code';
  writeFileSync(settings, JSON.stringify(merged));
  const again = await setup(ws, home, 'claude-code');
  assert.match(again.stdout, /^updated \.claude\/settings\.local\.json \(hooks\.PreToolUse\)/m);
  const after2 = read(settings) as typeof merged;
  assert.equal(after2.hooks.PreToolUse!.length, 2, 'ours replaced in place');
  assert.doesNotMatch(JSON.stringify(after2), /\/old\//);
  assert.deepEqual(Object.keys((read(path.join(ws, '.mcp.json')) as { mcpServers: object }).mcpServers), ['other', 'session-coordinator']);
});

test('R-AGT-3: --dry-run shows what would change and writes nothing', async () => {
  const { ws, home } = folders();
  const res = await setup(ws, home, 'gemini', '--dry-run');
  assert.equal(res.code, 0);
  assert.match(
    res.stdout,
    /^would be created \.gemini\/settings\.json \(mcpServers\.session-coordinator, hooks\.BeforeTool, hooks\.AfterTool, hooks\.SessionEnd\)/m,
  );
  assert.match(res.stdout, /"BeforeTool"/, 'with the file as it would be');
  assert.deepEqual(snapshot(ws), {});
});

test('R-AGT-3: a settings file that is not valid JSON is never overwritten: the message names the file and line, and nothing is written', async () => {
  const { ws, home } = folders();
  mkdirSync(path.join(ws, '.claude'));
  const broken = '{\n  "permissions": {\n    "allow": ["Bash(ls)",]\n  }\n}\n';
  writeFileSync(path.join(ws, '.claude', 'settings.local.json'), broken);
  const res = await setup(ws, home, 'claude-code');
  assert.equal(res.code, 1);
  assert.match(res.stderr, /settings\.local\.json:3:\d+ is not valid JSON/);
  assert.equal(readFileSync(path.join(ws, '.claude', 'settings.local.json'), 'utf8'), broken);
  assert.equal(existsSync(path.join(ws, '.mcp.json')), false, 'no file half of a setup');
  // JSON that is not an object, and comments we could not keep.
  writeFileSync(path.join(ws, '.claude', 'settings.local.json'), '[]');
  assert.match((await setup(ws, home, 'claude-code')).stderr, /holds a list, not a JSON object/);
  mkdirSync(path.join(ws, '.vscode'));
  writeFileSync(path.join(ws, '.vscode', 'mcp.json'), '{\n  // mine\n  "servers": {}\n}\n');
  const jsonc = await setup(ws, home, 'vscode');
  assert.equal(jsonc.code, 1);
  assert.match(jsonc.stderr, /mcp\.json is not valid JSON \(it has comments, which we cannot keep/);
});

test('R-AGT-3: a folder that cannot be written gets a clear message, exit 1, and no temp file left behind', async () => {
  const { ws, home } = folders();
  // Root ignores permission bits: a file where the folder should be is what stops even root.
  writeFileSync(path.join(ws, '.cursor'), 'not a folder');
  const res = await setup(ws, home, 'cursor');
  assert.equal(res.code, 1);
  assert.match(res.stderr, /Cannot (read|write) .*\.cursor\/mcp\.json/);
  assert.deepEqual(Object.keys(snapshot(ws)), ['.cursor']);
});

test('R-AGT-3, R-CLI-4: an unknown client or a missing workspace is a usage error (exit 2)', async () => {
  const { ws, home } = folders();
  const unknown = await setup(ws, home, 'no-such-agent');
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown client "no-such-agent": setup takes one of claude-code, vscode, cursor, cline, gemini, codex/);
  const missing = await runCliWith(['setup', 'claude-code', '--workspace', path.join(ws, 'nope')], cliEnv(home));
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /is not a folder/);
});

test('R-AGT-3: Cline and Codex keep their config outside the project: shown and written only with --global, merged into what is there', async () => {
  const { ws, home } = folders();
  const cline = await setup(ws, home, 'cline');
  assert.match(cline.stdout, /^skipped .*cline_mcp_settings\.json/m);
  assert.match(cline.stderr, /run setup cline --global/);
  const clineFile = path.join(
    home,
    '.config',
    'Code',
    'User',
    'globalStorage',
    'saoudrizwan.claude-dev',
    'settings',
    'cline_mcp_settings.json',
  );
  assert.equal(existsSync(clineFile), false);
  assert.equal((await setup(ws, home, 'cline', '--global')).code, 0);
  assert.ok((read(clineFile) as { mcpServers: Record<string, unknown> }).mcpServers['session-coordinator']);
  assert.equal(statSync(path.join(ws, '.clinerules', 'hooks', 'PreToolUse')).mode & 0o111, 0o111, 'the Cline hook is executable');

  const codexFile = path.join(home, '.codex', 'config.toml');
  mkdirSync(path.dirname(codexFile));
  const theirs = 'model = "o4"\n\n[mcp_servers.other]\ncommand = "x"\n';
  writeFileSync(codexFile, theirs);
  const codex = await setup(ws, home, 'codex', '--global');
  assert.equal(codex.code, 0);
  assert.match(codex.stderr, /edit guard is not installed for Codex/);
  const toml = readFileSync(codexFile, 'utf8');
  assert.ok(toml.startsWith(theirs), 'their TOML kept byte for byte');
  assert.match(toml, /\[mcp_servers\.session-coordinator\]\ncommand = ".+"\nargs = \[.*"connect"/);
  assert.equal((await setup(ws, home, 'codex', '--global')).stdout.trim(), `unchanged ${codexFile}`);
});
