import { promises as fs } from 'node:fs';
import * as path from 'node:path';

/**
 * Where a folder sits in git, read from the files git keeps (no git process:
 * this runs in the edit hook before every tool call). A linked worktree
 * (`git worktree add`) has a `.git` file naming its own git folder, whose
 * `commondir` names the repository's: every worktree of one repository has
 * the same common folder, and that is what makes them one project (issue 17).
 * A submodule's git folder has no `commondir`: it is a project of its own.
 */
export interface GitLayout {
  /** The checkout holding the folder: the main one or a linked worktree. */
  readonly worktree: string;
  /** This checkout's git folder (`<worktree>/.git`, or `.git/worktrees/<name>`). */
  readonly gitDir: string;
  /** The repository's git folder, shared by all its worktrees. */
  readonly commonDir: string;
  /** The checked-out branch; undefined on a detached HEAD. */
  readonly branch?: string;
  /** The commit of a detached HEAD (its first 12 characters). */
  readonly detachedAt?: string;
}

async function gitDirOf(dir: string): Promise<string | undefined> {
  const dotGit = path.join(dir, '.git');
  const stat = await fs.stat(dotGit).catch(() => undefined);
  if (!stat) return undefined;
  if (stat.isDirectory()) return dotGit;
  if (!stat.isFile()) return undefined;
  const m = /^gitdir:\s*(.+)$/m.exec(await fs.readFile(dotGit, 'utf8').catch(() => ''));
  return m ? path.resolve(dir, m[1]!.trim()) : undefined;
}

/** The layout of the repository enclosing `folder` (its real path), or undefined outside any. */
export async function findGitLayout(folder: string): Promise<GitLayout | undefined> {
  const real = await fs.realpath(folder).catch(() => path.resolve(folder));
  for (let dir = real; ; dir = path.dirname(dir)) {
    const gitDir = await gitDirOf(dir);
    if (gitDir) {
      const common = await fs.readFile(path.join(gitDir, 'commondir'), 'utf8').catch(() => undefined);
      const commonDir = await fs.realpath(common ? path.resolve(gitDir, common.trim()) : gitDir).catch(() => gitDir);
      const head = (await fs.readFile(path.join(gitDir, 'HEAD'), 'utf8').catch(() => '')).trim();
      const ref = /^ref:\s*refs\/heads\/(.+)$/.exec(head)?.[1];
      return {
        worktree: dir,
        gitDir,
        commonDir,
        ...(ref ? { branch: ref } : /^[0-9a-f]{40,64}$/.test(head) ? { detachedAt: head.slice(0, 12) } : {}),
      };
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** "feature (branch feat/x)", "main (detached at 1a2b3c4d5e6f)": a worktree as people name it. */
export function describeWorktree(layout: Pick<GitLayout, 'worktree' | 'branch' | 'detachedAt'>): string {
  const where = path.basename(layout.worktree);
  return layout.branch ? `${where} (branch ${layout.branch})` : layout.detachedAt ? `${where} (detached at ${layout.detachedAt})` : where;
}
