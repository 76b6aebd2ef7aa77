// `npm start`: installs, builds and starts the coordinator on the current
// folder (or the one given), printing how an agent connects.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { build, ensureNpmDeps, REPO } from './setup.mjs';

ensureNpmDeps(REPO);
build();
const workspace = path.resolve(process.argv[2] ?? process.env.INIT_CWD ?? process.cwd());
const cli = path.join(REPO, 'dist', 'cli.js');
console.log(`Starting Session Coordinator on ${workspace}`);
console.log(`Paste-ready config for an agent: node ${path.relative(process.cwd(), cli)} config claude-code --workspace ${workspace}`);
console.log('Live status: node dist/cli.js status --workspace ' + workspace + '\n');
const child = spawn(process.execPath, [cli, 'serve', '--http', '--workspace', workspace], { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code) => process.exit(code ?? 0));
