// `npm start`: installs, builds and packages the extension, then starts a real
// VS Code (code-server, on loopback) with it installed on a demo workspace,
// and prints the URL to open. `npm start -- /path/to/folder` opens that folder.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { packageVsix } from './package.mjs';
import { ensureNpmDeps, REPO, run } from './setup.mjs';
import { buildEnv, LATEST_BUILD } from './vscode/builds.mjs';

ensureNpmDeps(REPO);
run(process.execPath, [path.join(REPO, 'scripts', 'vscode', 'install.mjs'), '--only', LATEST_BUILD.codeServer]);
const vsix = packageVsix();

const demo = path.join(REPO, '.cache', 'demo');
const workspace = path.resolve(process.argv[2] ?? path.join(demo, 'workspace'));
if (!process.argv[2] && !existsSync(workspace)) {
  mkdirSync(path.join(workspace, 'src'), { recursive: true });
  writeFileSync(
    path.join(workspace, 'README.md'),
    '# Demo project\n\nConnect an agent, claim `src/app.ts`, and watch the Session Health panel.\n',
  );
  writeFileSync(path.join(workspace, 'src', 'app.ts'), 'export const greeting = "hello from the demo workspace";\n');
}
// The demo folder sits inside this repository's checkout: as a repository of its own it is its own project
// (else its claims would be named from this checkout's top, `.cache/demo/workspace/...`, and its state kept in our .git).
if (!process.argv[2] && !existsSync(path.join(workspace, '.git'))) {
  const init = spawnSync('git', ['init', '-q'], { cwd: workspace, stdio: 'ignore' });
  if (init.status !== 0) console.warn("git init of the demo workspace failed: claims there are named from this checkout's top");
}
const userData = path.join(demo, 'user-data');
const extensions = path.join(demo, 'extensions');
mkdirSync(path.join(userData, 'User'), { recursive: true });
writeFileSync(
  path.join(userData, 'User', 'settings.json'),
  JSON.stringify(
    { 'workbench.startupEditor': 'none', 'json.schemas': [{ url: 'https://json-schema.org/draft-07/schema', schema: { type: 'object' } }] },
    null,
    2,
  ),
);

const env = { ...buildEnv(LATEST_BUILD), SESSION_COORDINATOR_HOME: path.join(demo, 'home') };
for (const key of Object.keys(env)) if (key.startsWith('VSCODE_') || /^npm_/i.test(key)) delete env[key];
const entry = LATEST_BUILD.paths.entry;
const install = spawnSync(
  LATEST_BUILD.paths.node,
  [entry, '--extensions-dir', extensions, '--user-data-dir', userData, '--install-extension', vsix, '--force'],
  { env, stdio: ['ignore', 'ignore', 'inherit'] },
);
if (install.status !== 0) process.exit(install.status ?? 1);

const port = await new Promise((resolve) => {
  const probe = net.createServer().listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
    const { port: p } = probe.address();
    probe.close(() => resolve(p));
  });
});
const child = spawn(
  LATEST_BUILD.paths.node,
  [
    entry,
    '--auth',
    'none',
    '--bind-addr',
    `127.0.0.1:${port}`,
    '--extensions-dir',
    extensions,
    '--user-data-dir',
    userData,
    '--disable-telemetry',
    '--disable-update-check',
    // The demo folder is ours to trust; a folder you name gets VS Code's usual trust prompt.
    ...(process.argv[2] ? [] : ['--disable-workspace-trust']),
    workspace,
  ],
  { env, stdio: ['ignore', 'ignore', 'inherit'] },
);
console.log(`\nSession Coordinator in VS Code ${LATEST_BUILD.vscode} (code-server), on ${workspace}`);
console.log(`Open: http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`);
console.log('Then click the Session Coordinator icon in the activity bar. Give an agent its MCP config with:');
console.log(
  // --home: the demo's own install folder, passed on in the config so the agent finds this window.
  `  node ${path.relative(process.cwd(), path.join(REPO, 'dist', 'cli.js'))} config claude-code --workspace ${workspace} --home ${env.SESSION_COORDINATOR_HOME}`,
);
console.log('Headless, without VS Code: node dist/cli.js serve --workspace <folder>. Ctrl+C stops.\n');
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill('SIGTERM'));
child.on('exit', (code) => process.exit(code ?? 0));
