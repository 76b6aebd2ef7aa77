// Installs the real agents the tests drive (R-AGT-5), pinned, from the npm
// registry, into .cache/agents/<name>/ (git-ignored). Idempotent: a marker
// keyed on the version is written only after the agent answers --version, so
// a rerun is instant and an interrupted one starts over.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const AGENTS = {
  'claude-code': { pkg: '@anthropic-ai/claude-code', version: '2.1.328', bin: 'node_modules/.bin/claude' },
  gemini: { pkg: '@google/gemini-cli', version: '0.61.0', bin: 'node_modules/.bin/gemini' },
};

export function agentDir(name) {
  return path.join(REPO, '.cache', 'agents', name);
}

function marker(name) {
  return path.join(agentDir(name), `.installed-${AGENTS[name].version}`);
}

/** The agent's binary, once installed; undefined before. */
export function installedBinary(name) {
  return existsSync(marker(name)) ? readFileSync(marker(name), 'utf8').trim() : undefined;
}

function install(name) {
  const { pkg, version, bin } = AGENTS[name];
  const dir = agentDir(name);
  if (installedBinary(name)) return;
  const started = Date.now();
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `agent-${name}`, private: true }, null, 2));
  execFileSync('npm', ['install', '--save-exact', '--no-audit', '--no-fund', `${pkg}@${version}`], {
    cwd: dir,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, npm_config_yes: 'true' },
  });
  // npm 11 skips install scripts a project has not allowed; Claude Code's postinstall links its native binary.
  const pkgDir = path.join(dir, 'node_modules', ...pkg.split('/'));
  const scripts = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).scripts ?? {};
  if (scripts.postinstall) execFileSync('sh', ['-c', scripts.postinstall], { cwd: pkgDir, stdio: ['ignore', 'inherit', 'inherit'] });
  const binary = path.join(dir, bin);
  const reported = execFileSync(binary, ['--version'], { encoding: 'utf8', env: { ...process.env, DISABLE_AUTOUPDATER: '1' } }).trim();
  if (!reported.startsWith(version)) throw new Error(`${name}: expected version ${version}, got ${reported}`);
  writeFileSync(marker(name), `${binary}\n`);
  console.error(`[agents] ${name} ${version} installed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const name of Object.keys(AGENTS)) install(name);
}
