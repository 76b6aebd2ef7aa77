// Runs an extension-host test suite (mocha with the `vscode` API, the kind
// @vscode/test-electron runs) in a real VS Code served by code-server: the
// workbench is opened with a `payload` naming the extension and the suite as
// vscode-remote:// URIs, and reports the suite's exit code through
// window.codeAutomationExit. See shared/docs/real-vscode.md.
import * as path from 'node:path';
import { format } from 'node:util';
import { openWorkbench, remoteUri, screenshot, type Workbench } from './browser';
import { resolveBuild, startCodeServer, type CodeServerHandle, type VscodeBuild } from './codeServer';

export interface ExtensionHostSuiteOptions {
  /** A build from BUILDS, or its code-server / VS Code version, or 'min' / 'latest'. */
  build: VscodeBuild | string;
  /** The folder VS Code opens. */
  workspace: string;
  /** The extension's folder (with its package.json). */
  extensionDevelopmentPath: string;
  /** The suite's entry: a module exporting `run(): Promise<void>` (e.g. out/test/suite/index.js). */
  extensionTestsPath: string;
  /** For the whole run: start, load, tests; default 180 s. Nothing calls back if the URL is wrong, so this always ends it. */
  timeoutMs?: number;
  userSettings?: Record<string, unknown>;
  /** Other extensions to have installed. */
  extensionsDir?: string;
  vsix?: string;
  /** Environment for code-server and so for the extension host running the suite. */
  env?: NodeJS.ProcessEnv;
  /** Workspace Trust on: in test mode the trust dialog is refused, so the workspace stays untrusted (Restricted Mode). */
  trust?: boolean;
  /** Saves a PNG of the workbench here when the run times out or the suite fails. */
  screenshotOnFailure?: string;
}

export interface ExtensionHostSuiteResult {
  /** The suite's exit code as the workbench reports it (the extension host's own is 0 even when tests fail). */
  exitCode: number;
  /** What the workbench passed to codeAutomationLog: mocha's output among it. */
  log: string;
  /** code-server's output. */
  serverLog: string;
  /** The page's console. */
  console: string[];
  durationMs: number;
}

export class ExtensionHostSuiteTimeout extends Error {
  constructor(
    message: string,
    readonly log: string,
    readonly serverLog: string,
    readonly console: string[],
  ) {
    super(message);
  }
}

/** The workbench hands codeAutomationLog (level, [format, ...args]): console.log's arguments, printf-style. */
export function formatLogMessage(level: unknown, message: unknown): string {
  const text = Array.isArray(message) ? format(...(message as unknown[])) : typeof message === 'string' ? message : format(message);
  return level === 'info' || level === undefined ? text : `[${String(level)}] ${text}`;
}

export async function runExtensionHostSuite(options: ExtensionHostSuiteOptions): Promise<ExtensionHostSuiteResult> {
  const build = resolveBuild(options.build);
  const timeoutMs = options.timeoutMs ?? 180_000;
  const started = Date.now();
  const logLines: string[] = [];
  let server: CodeServerHandle | undefined;
  let workbench: Workbench | undefined;
  let timer: NodeJS.Timeout | undefined;
  let settled = false;
  let resolveExit!: (code: number) => void;
  const exit = new Promise<number>((resolve) => (resolveExit = resolve));

  const run = async (): Promise<number> => {
    server = await startCodeServer({
      build,
      workspace: options.workspace,
      userSettings: options.userSettings,
      extensionsDir: options.extensionsDir,
      vsix: options.vsix,
      env: options.env,
      trust: options.trust ?? false,
    });
    if (settled) return -1;
    workbench = await openWorkbench(server.url, options.workspace, {
      payload: [
        ['extensionDevelopmentPath', remoteUri(server.url, path.resolve(options.extensionDevelopmentPath))],
        ['extensionTestsPath', remoteUri(server.url, path.resolve(options.extensionTestsPath))],
      ],
      // Exposed before the page loads: the workbench looks for them when the suite ends.
      exposeFunctions: {
        codeAutomationExit: ((code: number) => resolveExit(Number(code))) as (...args: never[]) => unknown,
        codeAutomationLog: ((level: unknown, message: unknown) => {
          logLines.push(formatLogMessage(level, message));
        }) as (...args: never[]) => unknown,
      },
      timeoutMs,
    });
    return exit;
  };

  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const runPromise = run();
  try {
    const outcome = await Promise.race([runPromise, timedOut]);
    settled = true;
    if (outcome === 'timeout') {
      if (workbench && options.screenshotOnFailure) await screenshot(workbench.page, options.screenshotOnFailure).catch(() => undefined);
      throw new ExtensionHostSuiteTimeout(
        `the extension-host suite did not finish within ${timeoutMs} ms on VS Code ${build.vscode}: the workbench never called codeAutomationExit` +
          ` (wrong extensionTestsPath, a suite that hangs, or a payload the workbench ignored).\n--- log ---\n${logLines.join('\n')}` +
          `\n--- browser console (last 40) ---\n${(workbench?.console() ?? []).slice(-40).join('\n')}`,
        logLines.join('\n'),
        server?.output() ?? '',
        workbench?.console() ?? [],
      );
    }
    if (outcome !== 0 && workbench && options.screenshotOnFailure) {
      await screenshot(workbench.page, options.screenshotOnFailure).catch(() => undefined);
    }
    return {
      exitCode: outcome,
      log: logLines.join('\n'),
      serverLog: server?.output() ?? '',
      console: workbench?.console() ?? [],
      durationMs: Date.now() - started,
    };
  } finally {
    settled = true;
    clearTimeout(timer);
    resolveExit(-1); // unblocks run() after a timeout
    // If the timeout won while starting, let the start finish so that what it started is stopped too.
    await runPromise.catch(() => undefined);
    await workbench?.close();
    await server?.stop();
  }
}
