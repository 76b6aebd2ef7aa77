// `npm run bench`: installs, builds dist/cli.js, bundles the bench and its
// bare-SDK baseline servers with the same esbuild options as the CLI, then
// runs it. Prints `BENCH <name> value=… baseline=… ratio=… target=… ok|MISS`
// lines and writes bench/results.json. A MISS never fails the run: the exit
// code is non-zero only when the bench itself crashed.
// `npm run bench -- mcp-http-call session-open` runs only those figures.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { build, ensureNpmDeps, REPO } from './setup.mjs';

ensureNpmDeps(REPO);
build();

const out = path.join(REPO, '.cache', 'bench');
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
  entryPoints: {
    'mcp.bench': 'bench/mcp.bench.ts',
    bareHttpServer: 'bench/support/bareHttpServer.ts',
    bareStdioServer: 'bench/support/bareStdioServer.ts',
    inProcessServer: 'bench/support/inProcessServer.ts',
  },
  outdir: out,
});

const child = spawn(process.execPath, [path.join(out, 'mcp.bench.js'), ...process.argv.slice(2)], {
  cwd: REPO,
  env: { ...process.env, BENCH_REPO: REPO, BENCH_BUILD: out },
  stdio: 'inherit',
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
