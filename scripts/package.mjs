// `npm run package`: the .vsix from the esbuild bundles (nothing from node_modules ships).
import { statSync } from 'node:fs';
import * as path from 'node:path';
import { build, ensureNpmDeps, REPO, run } from './setup.mjs';

export const VSIX = path.join(REPO, 'dist', 'session-coordinator.vsix');

export function packageVsix() {
  build();
  run(
    process.execPath,
    [
      path.join(REPO, 'node_modules', '@vscode', 'vsce', 'vsce'),
      'package',
      '--no-dependencies',
      '--allow-missing-repository',
      '--no-rewrite-relative-links',
      '-o',
      VSIX,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  return VSIX;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  ensureNpmDeps(REPO);
  const file = packageVsix();
  console.log(`${path.relative(process.cwd(), file)}: ${(statSync(file).size / 1024).toFixed(0)} KiB`);
}
