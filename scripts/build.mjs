// Bundles the CLI (and, later, the extension) with esbuild; type checking is `npm run typecheck`.
import * as esbuild from 'esbuild';

const watch = process.argv.includes('--watch');

/** Prints errors in the form VS Code's esbuild problem matcher reads. */
const problemMatcher = {
  name: 'problem-matcher',
  setup(build) {
    build.onStart(() => console.log('[watch] build started'));
    build.onEnd((result) => {
      for (const { text, location } of result.errors) {
        console.error(`✘ [ERROR] ${text}`);
        if (location) console.error(`    ${location.file}:${location.line}:${location.column}:`);
      }
      console.log('[watch] build finished');
    });
  },
};

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  minify: !watch,
  logLevel: 'warning',
  plugins: watch ? [problemMatcher] : [],
};

const contexts = await Promise.all([
  // dist/cli.js only picks a bundle: the edit-guard hook (hook.js) must start fast; main.js is the rest.
  esbuild.context({ ...common, entryPoints: ['src/cli/bin.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } }),
  esbuild.context({ ...common, entryPoints: ['src/cli/main.ts'], outfile: 'dist/main.js' }),
  esbuild.context({ ...common, entryPoints: ['src/cli/hookMain.ts'], outfile: 'dist/hook.js' }),
  // The extension host provides `vscode`; everything else is bundled, so the .vsix ships no node_modules.
  esbuild.context({ ...common, entryPoints: ['src/extension/extension.ts'], outfile: 'dist/extension.js', external: ['vscode'] }),
  // Loaded by the extension when the coordinator first starts, so activation stays small.
  esbuild.context({
    ...common,
    entryPoints: ['src/extension/run/coordinatorRun.ts'],
    outfile: 'dist/coordinatorRun.js',
    external: ['vscode'],
  }),
  esbuild.context({
    ...common,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    entryPoints: ['webview/src/main.ts'],
    outfile: 'dist/webview.js',
    tsconfig: 'webview/tsconfig.json',
  }),
]);

if (watch) {
  await Promise.all(contexts.map((c) => c.watch()));
} else {
  await Promise.all(contexts.map((c) => c.rebuild()));
  await Promise.all(contexts.map((c) => c.dispose()));
}
