import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { REPO } from './processes.js';

const bundles = new Map<string, Promise<string>>();

/**
 * Bundles a worker of test/support (e.g. `storeWorker.ts`) into `.cache/`
 * once per test process and gives its path: a plain node start of a bundle
 * is much faster than tsx, and every worker is built with the same options.
 */
export function bundledWorker(file: string): Promise<string> {
  let built = bundles.get(file);
  if (!built) {
    const outfile = workerScript(file);
    built = esbuild
      .build({
        entryPoints: [path.join(REPO, 'test', 'support', file)],
        outfile,
        bundle: true,
        platform: 'node',
        target: 'node20',
        format: 'cjs',
        logLevel: 'error',
      })
      .then(() => outfile);
    bundles.set(file, built);
  }
  return built;
}

/** Where bundledWorker() puts the bundle of `file`. */
export function workerScript(file: string): string {
  return path.join(REPO, '.cache', file.replace(/\.ts$/, '.js'));
}
