import { execFileSync } from 'node:child_process';
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './workspace.js';

/** Runs git with an identity and a default branch of its own: the machine's git config is not the test's. */
export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', '-c', 'init.defaultBranch=main', ...args], {
    cwd,
    encoding: 'utf8',
  }).trim();
}

export interface TwoCheckouts {
  /** The main checkout, on branch main, with a.txt committed. */
  readonly main: string;
  /** A linked worktree (`git worktree add`) on branch feature. */
  readonly feature: string;
  /** An install folder for the coordinator (token, discovery files). */
  readonly home: string;
  remove(): Promise<void>;
}

/** A real repository with one commit and one linked worktree, in a temporary folder (real paths). */
export function repositoryWithWorktree(content = 'a\n'): TwoCheckouts {
  const dir = tempDir('sc-worktrees-');
  const home = tempDir('sc-worktrees-home-');
  const main = path.join(realpathSync(dir.path), 'main');
  mkdirSync(main);
  git(main, 'init', '-q');
  writeFileSync(path.join(main, 'a.txt'), content);
  git(main, 'add', 'a.txt');
  git(main, 'commit', '-q', '-m', 'one');
  const feature = path.join(path.dirname(main), 'feature');
  git(main, 'worktree', 'add', '-q', '-b', 'feature', feature);
  return {
    main,
    feature,
    home: home.path,
    remove: async () => {
      await dir.remove();
      await home.remove();
    },
  };
}
