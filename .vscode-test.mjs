// For machines with internet access: @vscode/test-cli downloads VS Code and runs the same
// extension-host suites that npm test runs in code-server (test/vscode/suite, bundled into
// .cache/vscode-suite by test/vscode/extensionHost.test.ts or `npm run test:electron`).
import { defineConfig } from '@vscode/test-cli';

const common = {
  files: '.cache/vscode-suite/extension.test.js',
  mocha: { ui: 'tdd', timeout: 60_000 },
  launchArgs: ['--disable-workspace-trust'],
};

export default defineConfig([
  { label: 'minimum', version: '1.103.2', ...common },
  { label: 'latest', version: 'stable', ...common },
]);
