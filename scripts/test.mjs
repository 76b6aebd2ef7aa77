// The one test command (`npm test`, and CI's .ci/run): installs, builds,
// type-checks, lints, then runs every test under node's test runner and ends
// with a plain "N passed, N failed" line.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { build, ensureDebianPackages, ensureNpmDeps, REPO, run, runInBackground } from './setup.mjs';

// redis-server: the Redis store; dosfstools + fusefat: a case-insensitive disk for the claim-path tests.
ensureDebianPackages(['redis-server', 'dosfstools', 'fusefat']);
// The real VS Code builds the extension is tested on (idempotent; minutes on a new machine, instant after). Neither
// needs the other, so they install while this project's npm packages do.
const vscodeInstalled = runInBackground(process.execPath, [path.join(REPO, 'scripts', 'vscode', 'install.mjs')]);
ensureNpmDeps(REPO);
// The conformance suite installs outside the tree (its node_modules holds other projects' tests).
const conformance = path.join(REPO, '.cache', 'conformance');
mkdirSync(conformance, { recursive: true });
for (const f of ['package.json', 'package-lock.json', 'authorizeRequests.mjs']) {
  const from = path.join(REPO, 'test', 'conformance', f);
  const to = path.join(conformance, f);
  // Copy only what changed: a fresh mtime on the lock file would mean a reinstall every run.
  if (!existsSync(to) || !readFileSync(from).equals(readFileSync(to))) copyFileSync(from, to);
}
ensureNpmDeps(conformance);
await vscodeInstalled;
// The real agents the tests drive (R-AGT-5): pinned, from the npm registry; instant once installed.
run(process.execPath, [path.join(REPO, 'scripts', 'agents', 'install.mjs')]);
build();
run(process.execPath, [path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', '.']);
run(process.execPath, [path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', 'webview']);
run(process.execPath, [path.join(REPO, 'node_modules', 'eslint', 'bin', 'eslint.js'), 'src', 'test', 'scripts', 'webview', 'bench']);
// One line width and one layout (.prettierrc.json): `npm run format` fixes what this refuses.
run(process.execPath, [
  path.join(REPO, 'node_modules', 'prettier', 'bin', 'prettier.cjs'),
  '--check',
  '--log-level',
  'warn',
  'src',
  'test',
  'scripts',
  'webview',
  'bench',
]);

function testFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    // test/vscode runs inside VS Code's extension host, through its own runner below.
    if (e.name === 'node_modules' || path.join(dir, e.name) === path.join(REPO, 'test', 'vscode', 'suite')) return [];
    const full = path.join(dir, e.name);
    return e.isDirectory() ? testFiles(full) : e.name.endsWith('.test.ts') ? [full] : [];
  });
}

const only = process.argv.slice(2);
const files = only.length > 0 ? only.map((f) => path.resolve(f)) : testFiles(path.join(REPO, 'test')).sort();
const outDir = path.join(REPO, '.cache');
mkdirSync(outDir, { recursive: true });
const tap = path.join(outDir, 'test-results.tap');

const child = spawn(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    '--test-concurrency=2',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tap}`,
    ...files,
  ],
  { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'] },
);
child.on('exit', (code) => {
  const text = readFileSync(tap, 'utf8');
  const count = (name) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  const passed = count('pass');
  const failed = count('fail') + count('cancelled');
  console.log(`\n${passed} passed, ${failed} failed`);
  process.exit(code === 0 && failed === 0 && passed > 0 ? 0 : 1);
});
