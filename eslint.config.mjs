import tseslint from 'typescript-eslint';

const noVscode = {
  paths: [{ name: 'vscode', message: 'src/core and src/cli run under plain Node: only src/extension may import vscode.' }],
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'out/**', '.cache/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        ...noVscode,
        patterns: [{ group: ['**/cli/**', '**/extension/**'], message: 'src/core depends on nothing above it.' }],
      }],
    },
  },
  {
    files: ['webview/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: 'vscode', message: 'The webview runs in a browser frame: talk to the host through the message protocol.' }],
        patterns: [{ group: ['**/src/core/**', '**/src/cli/**'], message: 'The webview shares only types with the host (src/extension/views/healthProtocol.ts).' }],
      }],
    },
  },
  {
    files: ['src/cli/**/*.ts', 'test/core/**/*.ts', 'test/cli/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        ...noVscode,
        patterns: [{ group: ['**/extension/**'], message: 'The CLI never loads the extension layer.' }],
      }],
    },
  },
);
