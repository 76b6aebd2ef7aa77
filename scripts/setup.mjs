// Installs what the project needs from its own lock files, so that a fresh
// clone needs nothing but Node and npm. Idempotent: a second run is instant.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function run(command, args, options = {}) {
  const r = spawnSync(command, args, { stdio: 'inherit', cwd: REPO, ...options });
  if (r.status !== 0) {
    console.error(`\n${command} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
}

/** `run`, without waiting: resolves once the command succeeded; exits like `run` when it failed. */
export function runInBackground(command, args, options = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'], cwd: REPO, ...options });
    child.on('exit', (code, signal) => {
      if (code === 0) return resolve();
      console.error(`\n${command} ${args.join(' ')} failed (exit ${code ?? signal})`);
      process.exit(code || 1);
    });
  });
}

/** `npm ci` in a folder whose installed tree is missing or older than its lock file. */
export function ensureNpmDeps(dir) {
  const lock = path.join(dir, 'package-lock.json');
  const installed = path.join(dir, 'node_modules', '.package-lock.json');
  if (existsSync(installed) && statSync(installed).mtimeMs >= statSync(lock).mtimeMs) return;
  console.log(`Installing npm packages in ${path.relative(REPO, dir) || '.'} ...`);
  run('npm', ['ci', '--no-audit', '--no-fund'], { cwd: dir });
}

/** Debian packages the tests need (redis-server for the Redis store): installed with apt when missing. */
export function ensureDebianPackages(packages) {
  const status = spawnSync('dpkg-query', ['-W', '-f=${Package} ${db:Status-Abbrev}\n', ...packages], { encoding: 'utf8' });
  const installed = new Set(
    (status.stdout ?? '')
      .split('\n')
      .filter((l) => /\sii\s*$/.test(l))
      .map((l) => l.split(' ')[0]),
  );
  const missing = packages.filter((p) => !installed.has(p));
  if (missing.length === 0) return;
  console.log(`Installing Debian packages: ${missing.join(' ')} ...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update'], { env });
  run('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { env });
}

export function build() {
  run(process.execPath, [path.join(REPO, 'scripts', 'build.mjs')]);
}
