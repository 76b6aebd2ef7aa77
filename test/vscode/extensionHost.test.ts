// The extension-host suites (test/vscode/suite) in a real VS Code, on the oldest
// build we support and the latest we can get (R-EXT-3).
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import * as esbuild from 'esbuild';
import { REPO } from '../support/processes.js';
import { tempDir } from '../support/workspace.js';
import { LATEST_BUILD, MIN_BUILD } from './harness/codeServer.js';
import { runExtensionHostSuite } from './harness/extensionHostSuite.js';

const SUITE_OUT = path.join(REPO, '.cache', 'vscode-suite');
const cleanup: Array<() => Promise<unknown>> = [];

before(async () => {
  await esbuild.build({
    entryPoints: ['index', 'extension.test', 'restricted.test', 'multiRoot.test'].map((f) =>
      path.join(REPO, 'test', 'vscode', 'suite', `${f}.ts`),
    ),
    outdir: SUITE_OUT,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    // VS Code provides `vscode`; mocha is found in the repository's node_modules.
    external: ['vscode', 'mocha'],
    logLevel: 'error',
  });
});
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

async function runSuite(build: string, suite: 'extension' | 'restricted' | 'multiRoot'): Promise<void> {
  const ws = tempDir('sc-vscode-ws-');
  const home = tempDir('sc-vscode-home-');
  cleanup.push(ws.remove, home.remove);
  let workspace = ws.path;
  if (suite === 'multiRoot') {
    // Two folders, each its own project with a src/app.ts, opened as one .code-workspace.
    const second = tempDir('sc-vscode-ws2-');
    cleanup.push(second.remove);
    for (const f of [ws.path, second.path]) {
      mkdirSync(path.join(f, 'src'));
      writeFileSync(path.join(f, 'src', 'app.ts'), 'export {};\n');
    }
    workspace = path.join(home.path, 'two.code-workspace');
    writeFileSync(workspace, JSON.stringify({ folders: [{ path: ws.path }, { path: second.path }] }));
  }
  const result = await runExtensionHostSuite({
    build,
    workspace,
    extensionDevelopmentPath: REPO,
    extensionTestsPath: path.join(SUITE_OUT, 'index.js'),
    timeoutMs: 240_000,
    trust: suite === 'restricted',
    env: { SESSION_COORDINATOR_HOME: home.path, SESSION_COORDINATOR_SUITE: suite },
    screenshotOnFailure: path.join(REPO, '.cache', 'shots', `suite-${suite}-${build}.png`),
  });
  const mocha = result.log
    .split('\n')
    .filter((l) => /passing|failing|✔|^\s+\d+\) /.test(l))
    .join('\n');
  console.log(`${suite} suite on ${build}: exit ${result.exitCode} in ${result.durationMs} ms\n${mocha}`);
  assert.equal(result.exitCode, 0, result.log);
  assert.match(result.log, /passing/, 'mocha ran and reported');
  assert.doesNotMatch(result.log, /failing/);
}

for (const build of [MIN_BUILD, LATEST_BUILD]) {
  test(`R-EXT-3: the extension-host suite passes in VS Code ${build.vscode} (R-EXT-2, R-EXT-5, R-EXT-6, R-MCP-5, R-OBS-2)`, async () => {
    await runSuite(build.codeServer, 'extension');
  });
  test(`R-EXT-4: Restricted Mode suite passes in VS Code ${build.vscode}`, async () => {
    await runSuite(build.codeServer, 'restricted');
  });
}

test(`R-SEC-7: the multi-root suite passes in VS Code ${LATEST_BUILD.vscode}`, async () => {
  await runSuite(LATEST_BUILD.codeServer, 'multiRoot');
});
