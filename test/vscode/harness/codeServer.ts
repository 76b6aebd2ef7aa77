// Starts a real VS Code (code-server, installed by scripts/vscode/install.mjs)
// on loopback, for tests that drive it from a browser or run extension-host
// suites in it. See shared/docs/real-vscode.md.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { assertInstalled, buildEnv, compareVersions, findBuild, type VscodeBuild } from '../../../scripts/vscode/builds.mjs';

export type { VscodeBuild } from '../../../scripts/vscode/builds.mjs';
export { BUILDS, LATEST_BUILD, MIN_BUILD, findBuild, isInstalled } from '../../../scripts/vscode/builds.mjs';

export interface StartCodeServerOptions {
  /** A build from BUILDS, or its code-server / VS Code version, or 'min' / 'latest'. */
  build: VscodeBuild | string;
  /** The folder VS Code opens. */
  workspace: string;
  /** Where extensions are installed; default: a fresh folder of this run. */
  extensionsDir?: string;
  /** A .vsix to install (`--install-extension`) before starting. */
  vsix?: string;
  /** Merged over the defaults written to <user-data-dir>/User/settings.json. */
  userSettings?: Record<string, unknown>;
  /** Keep Workspace Trust on (test Restricted Mode); default false: `--disable-workspace-trust`. */
  trust?: boolean;
  /**
   * Start with `--vscode-option enable-smoke-test-driver`. Default: on builds
   * that have the option (code-server 4.134+), since VS Code 1.133+ ignores an
   * extension-test `payload` without it. It also hides notification toasts
   * (notifications then reach only the notification center).
   */
  smokeTestDriver?: boolean;
  /** More code-server arguments. */
  args?: string[];
  /** More environment for code-server and so for the extension host. */
  env?: NodeJS.ProcessEnv;
  /** How long to wait for code-server to answer HTTP; default 60 s. */
  startTimeoutMs?: number;
}

export interface CodeServerHandle {
  /** http://127.0.0.1:<port> (no trailing slash). */
  url: string;
  port: number;
  build: VscodeBuild;
  pid: number;
  /** This run's folder: user-data-dir, default extensions dir, code-server.log. */
  runDir: string;
  userDataDir: string;
  extensionsDir: string;
  /** Everything code-server printed so far. */
  output(): string;
  /** Stops code-server and every process under it, then removes the run folder (unless VSCODE_HARNESS_KEEP=1). */
  stop(): Promise<void>;
}

/** Settings every run gets (userSettings are merged over them). */
export const DEFAULT_USER_SETTINGS: Record<string, unknown> = {
  // Otherwise a walkthrough covers the editor.
  'workbench.startupEditor': 'none',
  // Offline: one build dropped MCP tools whose schema it could not check against this address.
  'json.schemas': [{ url: 'https://json-schema.org/draft-07/schema', schema: { type: 'object' } }],
  'workbench.tips.enabled': false,
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  // Test workspaces often sit inside a checkout: no "open the parent repository?" prompt.
  'git.openRepositoryInParentFolders': 'never',
};

/** Unix socket paths are limited to 107 bytes; VS Code puts vscode-ipc-<uuid>.sock (52 chars) into TMPDIR. */
const MAX_TMPDIR_LENGTH = 50;

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A test that forgets stop(), or a process that dies on an exception, leaves nothing running.
  process.on('exit', () => {
    for (const child of live) killTree(child.pid, 'SIGKILL');
  });
}

export function resolveBuild(build: VscodeBuild | string): VscodeBuild {
  return typeof build === 'string' ? findBuild(build) : build;
}

/** TMPDIR for code-server: the build's own, unless the checkout's path makes socket paths too long. */
export function runtimeTmpDir(build: VscodeBuild): string {
  if (build.paths.tmp.length <= MAX_TMPDIR_LENGTH) return build.paths.tmp;
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  return path.join(os.tmpdir(), `vscode-harness-${uid}`, build.codeServer);
}

/** The environment code-server runs with: the build's TMPDIR and XDG_*, nothing of an enclosing VS Code, npm run or test runner. */
export function codeServerEnv(build: VscodeBuild, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = buildEnv(build, { TMPDIR: runtimeTmpDir(build), ...extra });
  for (const key of Object.keys(env)) {
    // VSCODE_IPC_HOOK_CLI would make code-server open the folder in the VS Code it runs inside of.
    if ((key.startsWith('VSCODE_') || /^npm_/i.test(key)) && !(key in extra)) delete env[key];
  }
  for (const key of ['NODE_OPTIONS', 'NODE_TEST_CONTEXT', 'ELECTRON_RUN_AS_NODE']) if (!(key in extra)) delete env[key];
  return env;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Runs code-server's CLI (e.g. --install-extension) and returns its output; throws when it fails. */
export function runCodeServerCli(build: VscodeBuild, args: string[], env: NodeJS.ProcessEnv = codeServerEnv(build)): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(build.paths.node, [build.paths.entry, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve(out);
      else reject(new Error(`code-server ${args.join(' ')} failed (exit ${code ?? signal}):\n${out}`));
    });
  });
}

export async function startCodeServer(options: StartCodeServerOptions): Promise<CodeServerHandle> {
  const build = resolveBuild(options.build);
  assertInstalled(build);
  if (!existsSync(options.workspace)) throw new Error(`workspace ${options.workspace} does not exist`);
  const useSmokeTestDriver = smokeTestDriver(build, options);
  installExitHook();

  const runsDir = path.join(build.paths.root, 'runs');
  mkdirSync(runsDir, { recursive: true });
  sweepDeadRuns(runsDir);
  const runDir = mkdtempSync(path.join(runsDir, 'r-'));
  writeFileSync(path.join(runDir, 'pid'), String(process.pid));
  const userDataDir = path.join(runDir, 'user-data');
  const extensionsDir = options.extensionsDir ?? path.join(runDir, 'extensions');
  mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
  mkdirSync(extensionsDir, { recursive: true });
  writeFileSync(
    path.join(userDataDir, 'User', 'settings.json'),
    `${JSON.stringify({ ...DEFAULT_USER_SETTINGS, ...options.userSettings }, null, 2)}\n`,
  );
  const env = codeServerEnv(build, options.env);
  mkdirSync(env.TMPDIR!, { recursive: true });
  const logFile = path.join(runDir, 'code-server.log');

  try {
    if (options.vsix) {
      const out = await runCodeServerCli(
        build,
        ['--extensions-dir', extensionsDir, '--user-data-dir', userDataDir, '--install-extension', path.resolve(options.vsix)],
        env,
      );
      appendFileSync(logFile, out);
      if (!/successfully installed|already installed/i.test(out)) throw new Error(`installing ${options.vsix} printed no success:\n${out}`);
    }

    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      try {
        return await launch(build, options, {
          port,
          env,
          runDir,
          userDataDir,
          extensionsDir,
          logFile,
          smokeTestDriver: useSmokeTestDriver,
        });
      } catch (e) {
        lastError = e;
        // Another process took the port between freePort() and code-server's listen: try another.
        if (!(e instanceof Error && /EADDRINUSE/.test(e.message))) break;
      }
    }
    throw lastError;
  } catch (e) {
    if (process.env.VSCODE_HARNESS_KEEP !== '1') rmSync(runDir, { recursive: true, force: true });
    throw e;
  }
}

interface LaunchContext {
  port: number;
  env: NodeJS.ProcessEnv;
  runDir: string;
  userDataDir: string;
  extensionsDir: string;
  logFile: string;
  smokeTestDriver: boolean;
}

async function launch(build: VscodeBuild, options: StartCodeServerOptions, ctx: LaunchContext): Promise<CodeServerHandle> {
  const args = [
    build.paths.entry,
    '--auth',
    'none',
    '--bind-addr',
    `127.0.0.1:${ctx.port}`,
    '--extensions-dir',
    ctx.extensionsDir,
    '--user-data-dir',
    ctx.userDataDir,
    // Short, and this run's own (the default lives in the user-data-dir).
    '--session-socket',
    path.join(ctx.runDir, 's.sock'),
    '--disable-telemetry',
    '--disable-update-check',
    ...(options.trust ? [] : ['--disable-workspace-trust']),
    // VS Code 1.133+ ignores the extension-test `payload` without it (option exists from code-server 4.134).
    ...(ctx.smokeTestDriver ? ['--vscode-option', 'enable-smoke-test-driver'] : []),
    ...(options.args ?? []),
    options.workspace,
  ];
  appendFileSync(ctx.logFile, `$ ${build.paths.node} ${args.join(' ')}\n`);
  const child = spawn(build.paths.node, args, { env: ctx.env, cwd: ctx.runDir, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  live.add(child);
  let output = '';
  const onData = (d: Buffer): void => {
    const text = d.toString();
    if (output.length < 4_000_000) output += text;
    appendFileSync(ctx.logFile, text);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve(`code-server exited (${code ?? signal})`);
    });
    child.once('error', (e) => resolve(`code-server could not start: ${e.message}`));
  });

  const url = `http://127.0.0.1:${ctx.port}`;
  let stopped: Promise<void> | undefined;
  const handle: CodeServerHandle = {
    url,
    port: ctx.port,
    build,
    pid: child.pid!,
    runDir: ctx.runDir,
    userDataDir: ctx.userDataDir,
    extensionsDir: ctx.extensionsDir,
    output: () => output,
    stop: () => {
      stopped ??= (async () => {
        await stopTree(child);
        live.delete(child);
        if (process.env.VSCODE_HARNESS_KEEP !== '1') rmSync(ctx.runDir, { recursive: true, force: true });
        sweepStaleSockets(ctx.env.TMPDIR!);
      })();
      return stopped;
    },
  };

  const timeoutMs = options.startTimeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  let exitMessage: string | undefined;
  void exited.then((m) => (exitMessage = m));
  for (;;) {
    if (exitMessage) {
      await handle.stop();
      throw new Error(`${exitMessage} before answering on ${url}:\n${output}`);
    }
    if (await answers(`${url}/healthz`)) return handle;
    if (Date.now() > deadline) {
      await handle.stop();
      throw new Error(`code-server did not answer on ${url} within ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

function smokeTestDriver(build: VscodeBuild, options: StartCodeServerOptions): boolean {
  const wanted = options.smokeTestDriver ?? build.needsSmokeTestDriver;
  if (wanted && compareVersions(build.codeServer, '4.134.0') < 0) {
    throw new Error(`code-server ${build.codeServer} has no --vscode-option (from 4.134.0): smokeTestDriver needs a newer build`);
  }
  return wanted;
}

function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode !== undefined && res.statusCode < 500);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
  });
}

/** Every process under pid (from /proc), deepest last. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(name));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const c of children.get(queue.shift()!) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie still answers: look at its state.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function killTree(pid: number | undefined, signal: NodeJS.Signals): number[] {
  if (!pid) return [];
  const pids = [pid, ...descendants(pid)];
  for (const p of pids) {
    try {
      process.kill(p, signal);
    } catch {
      // already gone
    }
  }
  return pids;
}

/** SIGTERM to code-server and each process under it; SIGKILL whatever is left after 5 s. */
async function stopTree(child: ChildProcess): Promise<void> {
  if (!child.pid) return;
  const pids = killTree(child.pid, 'SIGTERM');
  const deadline = Date.now() + 5000;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (pids.some(alive)) {
    killTree(child.pid, 'SIGKILL');
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
    while (pids.some(alive) && Date.now() < deadline + 5000) await new Promise((r) => setTimeout(r, 100));
  }
}

/** Removes the *.sock files VS Code leaves in TMPDIR (vscode-git-*, vscode-ipc-*) that no process listens on any more. */
function sweepStaleSockets(dir: string): void {
  let bound: string;
  try {
    bound = readFileSync('/proc/net/unix', 'utf8');
  } catch {
    return;
  }
  const inUse = new Set(bound.split('\n').map((l) => l.split(' ').pop() ?? ''));
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const file = path.join(dir, name);
    if (/^vscode-.*\.sock$/.test(name) && !inUse.has(file)) rmSync(file, { force: true });
  }
}

/** Removes run folders left by test processes that died without stop(). */
function sweepDeadRuns(runsDir: string): void {
  for (const name of readdirSync(runsDir)) {
    const dir = path.join(runsDir, name);
    let pid = 0;
    try {
      pid = Number(readFileSync(path.join(dir, 'pid'), 'utf8'));
    } catch {
      // no pid file yet: a run being created right now, or not ours
      continue;
    }
    if (pid && pid !== process.pid && !alive(pid)) rmSync(dir, { recursive: true, force: true });
  }
}
