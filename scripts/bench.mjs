// `npm run bench`: installs, builds dist/cli.js, bundles the benches and their
// baseline servers and workers with the same esbuild options as the CLI, then
// runs the entry points one after the other: bench/mcp.bench.ts (our MCP
// server against the bare SDK) and bench/store.bench.ts (the shared store
// across processes against SQLite). Each prints `BENCH <name> value=…
// baseline=… ratio=… target=… ok|MISS` lines and writes its figures to
// .cache/bench/<entry>.results.json; this script merges them, in order, into
// bench/results.json. A MISS never fails the run: the exit code is non-zero
// only when a bench itself crashed.
// `npm run bench -- mcp-http-call store-cas-4proc` runs only those figures.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { build, ensureNpmDeps, REPO, run } from './setup.mjs';

ensureNpmDeps(REPO);
// The extension figures run in a real VS Code: the oldest build we support.
run(process.execPath, [path.join(REPO, 'scripts', 'vscode', 'install.mjs'), '--only', 'min']);
build();

const out = path.join(REPO, '.cache', 'bench');
/** The entry points, in order: a name (its results file) and the node arguments that run it. */
const ENTRIES = [
  { name: 'mcp.bench', args: [path.join(out, 'mcp.bench.js')] },
  { name: 'store.bench', args: [path.join(out, 'store.bench.js')] },
  // Under tsx, not bundled: it drives code-server and playwright-core, which do not bundle cleanly.
  { name: 'extension.bench', args: ['--import', 'tsx', path.join(REPO, 'bench', 'extension.bench.ts')] },
  // Under tsx too: it starts real agents' processes with the test helpers.
  { name: 'agents.bench', args: ['--import', 'tsx', path.join(REPO, 'bench', 'agents.bench.ts')] },
  // Under tsx: a real serve and SDK clients, left idle.
  { name: 'idle.bench', args: ['--import', 'tsx', path.join(REPO, 'bench', 'idle.bench.ts')] },
  // Under tsx: real serves on one project, SDK clients, and a Redis server.
  { name: 'messages.bench', args: ['--import', 'tsx', path.join(REPO, 'bench', 'messages.bench.ts')] },
];
await esbuild.build({
  // The options of scripts/build.mjs, so ours (dist/cli.js) and the baselines run the same kind of code.
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  minify: true,
  logLevel: 'warning',
  absWorkingDir: REPO,
  // A native addon: loaded from node_modules at run time, never bundled.
  external: ['better-sqlite3'],
  entryPoints: {
    'mcp.bench': 'bench/mcp.bench.ts',
    'store.bench': 'bench/store.bench.ts',
    bareHttpServer: 'bench/support/bareHttpServer.ts',
    bareStdioServer: 'bench/support/bareStdioServer.ts',
    inProcessServer: 'bench/support/inProcessServer.ts',
    storeWorker: 'bench/support/storeWorker.ts',
  },
  outdir: out,
});

let current;
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    interrupted = true;
    current?.kill(signal);
  });
}

function runEntry(entry, results) {
  rmSync(results, { force: true });
  return new Promise((resolve) => {
    current = spawn(process.execPath, [...entry.args, ...process.argv.slice(2)], {
      cwd: REPO,
      env: { ...process.env, BENCH_REPO: REPO, BENCH_BUILD: out, BENCH_RESULTS: results },
      stdio: 'inherit',
    });
    current.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

const figures = [];
let failed = 0;
for (const entry of ENTRIES) {
  if (interrupted) break;
  const results = path.join(out, `${entry.name}.results.json`);
  const code = await runEntry(entry, results);
  if (code !== 0) failed ||= code;
  if (existsSync(results)) figures.push(...JSON.parse(readFileSync(results, 'utf8')));
}
writeFileSync(path.join(REPO, 'bench', 'results.json'), JSON.stringify(figures, null, 2) + '\n');
console.error(`bench: ${figures.length} figures in bench/results.json${failed ? ` (a bench crashed: exit ${failed})` : ''}`);
process.exit(failed);
