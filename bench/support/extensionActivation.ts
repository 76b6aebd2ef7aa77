// The activation figure of bench/extension.bench.ts: our extension against an
// EMPTY extension, both installed from a .vsix into the same extensions folder
// of a real VS Code (code-server) and activated one after the other, in the
// same extension host, by an extension-host "suite" that times `ext.activate()`.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { REPO } from '../../scripts/vscode/builds.mjs';
import { runCodeServerCli, codeServerEnv, resolveBuild, type VscodeBuild } from '../../test/vscode/harness/codeServer.js';
import { runExtensionHostSuite } from '../../test/vscode/harness/extensionHostSuite.js';

export const OUR_ID = 'session-coordinator.session-coordinator';
export const EMPTY_ID = 'bench.empty-extension';

export interface ActivationSample {
  id: string;
  /** From the call of ext.activate() to its promise resolving: loading the code, activate(), and the promise activate() returned. */
  ms: number;
  /** Already active before the call: then ms measures nothing and the sample is void. */
  wasActive: boolean;
}

export interface ActivationStart {
  order: string[];
  samples: ActivationSample[];
  durationMs: number;
}

/** An extension with an activate() that does nothing, packaged with the project's own vsce. */
export function packageEmptyExtension(dir: string): string {
  const src = path.join(dir, 'empty-extension');
  mkdirSync(src, { recursive: true });
  writeFileSync(
    path.join(src, 'package.json'),
    JSON.stringify(
      {
        name: 'empty-extension',
        displayName: 'Empty (bench baseline)',
        description: 'Activates and does nothing: the baseline of the activation bench.',
        version: '0.0.1',
        publisher: 'bench',
        license: 'MIT',
        engines: { vscode: '^1.103.0' },
        main: './extension.js',
        // Activated only by the bench (ext.activate()), like ours in the bench.
        activationEvents: [],
      },
      null,
      2,
    ),
  );
  writeFileSync(
    path.join(src, 'extension.js'),
    `'use strict';\nexports.activate = function () {};\nexports.deactivate = function () {};\n`,
  );
  writeFileSync(path.join(src, 'README.md'), '# Empty extension\n\nThe baseline of the activation bench.\n');
  writeFileSync(path.join(src, 'LICENSE'), 'MIT\n');
  const out = path.join(dir, 'empty-extension.vsix');
  const vsce = path.join(REPO, 'node_modules', '@vscode', 'vsce', 'vsce');
  const r = spawnSync(process.execPath, [vsce, 'package', '--no-dependencies', '--allow-missing-repository', '-o', out], {
    cwd: src,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`vsce package (empty extension) failed:\n${r.stdout}\n${r.stderr}`);
  return out;
}

/**
 * Installs both .vsix files into one extensions folder, then takes away our
 * activation event (onStartupFinished) in the installed manifest, so that
 * neither extension activates until the bench asks: the code, the bundle and
 * everything activate() does stay exactly what ships.
 */
export async function installBoth(build: VscodeBuild | string, dir: string, ourVsix: string, emptyVsix: string): Promise<string> {
  const b = resolveBuild(build);
  const extensionsDir = path.join(dir, 'extensions');
  const userDataDir = path.join(dir, 'install-user-data');
  mkdirSync(extensionsDir, { recursive: true });
  mkdirSync(userDataDir, { recursive: true });
  const env = codeServerEnv(b);
  mkdirSync(env.TMPDIR!, { recursive: true });
  for (const vsix of [ourVsix, emptyVsix]) {
    await runCodeServerCli(b, ['--extensions-dir', extensionsDir, '--user-data-dir', userDataDir, '--install-extension', vsix], env);
  }
  const ours = readdirSync(extensionsDir).find((d) => d.startsWith(`${OUR_ID}-`));
  if (!ours) throw new Error(`our extension is not in ${extensionsDir}: ${readdirSync(extensionsDir).join(', ')}`);
  const manifest = path.join(extensionsDir, ours, 'package.json');
  const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { activationEvents?: string[] };
  pkg.activationEvents = [];
  writeFileSync(manifest, JSON.stringify(pkg, null, 2));
  return extensionsDir;
}

/**
 * The extension-host module that measures: waits until the host is quiet, then
 * activates the extensions in the order given (normally one per start, so each
 * is the first activation of a fresh host), each timed with performance.now().
 * Plain CommonJS: the extension host require()s it as it is.
 */
const SUITE = `'use strict';
const vscode = require('vscode');
exports.run = async function run() {
  // Let the start-up work of the host and of built-in extensions finish: both sides are measured in the same quiet host.
  await new Promise((r) => setTimeout(r, Number(process.env.BENCH_ACTIVATION_SETTLE_MS || 2000)));
  const order = String(process.env.BENCH_ACTIVATION_ORDER || '').split(',').filter(Boolean);
  for (const entry of order) {
    // "load:<id>" (diagnostics): only require() the extension's main module, to split loading from activating.
    const load = entry.startsWith('load:');
    const id = load ? entry.slice(5) : entry;
    const ext = vscode.extensions.getExtension(id);
    if (!ext) throw new Error('extension ' + id + ' is not installed');
    const wasActive = ext.isActive;
    const t0 = performance.now();
    if (load) require(require('path').join(ext.extensionPath, ext.packageJSON.main));
    else await ext.activate();
    const ms = performance.now() - t0;
    console.log('ACTIVATION ' + JSON.stringify({ id: entry, ms, wasActive }));
    await new Promise((r) => setTimeout(r, 500));
  }
};
`;

/** A development extension with nothing in it: it only hosts the suite. */
export function writeRunner(dir: string): { extensionDevelopmentPath: string; extensionTestsPath: string } {
  const runner = path.join(dir, 'runner');
  mkdirSync(runner, { recursive: true });
  writeFileSync(
    path.join(runner, 'package.json'),
    JSON.stringify({ name: 'activation-bench-runner', publisher: 'bench', version: '0.0.1', engines: { vscode: '^1.103.0' } }, null, 2),
  );
  const suite = path.join(runner, 'suite.js');
  writeFileSync(suite, SUITE);
  return { extensionDevelopmentPath: runner, extensionTestsPath: suite };
}

/** One start of VS Code: activates both extensions in `order` and returns the samples. */
export async function measureOneStart(options: {
  build: VscodeBuild | string;
  workspace: string;
  home: string;
  extensionsDir: string;
  runner: { extensionDevelopmentPath: string; extensionTestsPath: string };
  order: string[];
}): Promise<ActivationStart> {
  const result = await runExtensionHostSuite({
    build: options.build,
    workspace: options.workspace,
    extensionDevelopmentPath: options.runner.extensionDevelopmentPath,
    extensionTestsPath: options.runner.extensionTestsPath,
    extensionsDir: options.extensionsDir,
    env: { SESSION_COORDINATOR_HOME: options.home, BENCH_ACTIVATION_ORDER: options.order.join(',') },
    timeoutMs: 120_000,
  });
  if (result.exitCode !== 0) throw new Error(`the activation suite failed (exit ${result.exitCode}):\n${result.log}`);
  const samples = result.log
    .split('\n')
    .map((l) => /ACTIVATION (\{.*\})/.exec(l)?.[1])
    .filter((j): j is string => j !== undefined)
    .map((j) => JSON.parse(j) as ActivationSample);
  if (samples.length !== options.order.length) throw new Error(`expected ${options.order.length} samples, got:\n${result.log}`);
  return { order: options.order, samples, durationMs: result.durationMs };
}
