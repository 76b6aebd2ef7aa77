import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { CoordinatorError } from '../../errors.js';
import { findGitLayout } from '../../repository/gitLayout.js';

/**
 * Project identity that does not depend on the path (R-CTX-9): on two
 * machines the same repository lives in different folders, so the Redis
 * keys are namespaced by an id derived from the origin URL when there is
 * one, else from the folder.
 */

const MAX_PROJECT_ID = 200;

/** A configured id: printable, no whitespace, no braces (they delimit the cluster hash tag of every key). */
export function validateProjectId(id: string): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_PROJECT_ID || /[\s{}\u0000-\u001f\u007f]/.test(id)) {
    throw new CoordinatorError(
      'InvalidArgument',
      `Project id ${JSON.stringify(id)} is not valid: use 1-${MAX_PROJECT_ID} printable characters without spaces or braces`,
      { projectId: id },
    );
  }
  return id;
}

/**
 * `git@GitHub.com:Owner/Repo.git`, `https://user:token@github.com/Owner/Repo`,
 * `ssh://git@github.com:22/Owner/Repo.git/` -> `github.com/Owner/Repo`:
 * no scheme, no credentials, no port, lowercase host, no `.git` suffix.
 */
export function normalizeOriginUrl(url: string): string | undefined {
  const text = url.trim();
  if (!text) return undefined;
  let host = '';
  let repoPath: string;
  const scp = /^(?:[^@/]+@)?([^:/]+):(?!\/\/)(.+)$/.exec(text);
  if (!text.includes('://') && scp) {
    host = scp[1]!;
    repoPath = scp[2]!;
  } else if (text.includes('://')) {
    let parsed: URL;
    try {
      parsed = new URL(text);
    } catch {
      return undefined;
    }
    host = parsed.hostname;
    repoPath = decodeURIComponent(parsed.pathname);
  } else {
    // A local path remote: only meaningful on this machine, but still the same for every folder cloned from it.
    repoPath = text;
  }
  const cleaned = repoPath
    .replace(/\\/g, '/')
    .replace(/\/{2,}/g, '/')
    .replace(/^\/+|\/+$/g, '')
    .replace(/\.git$/i, '')
    .replace(/\/+$/, '');
  if (!cleaned) return undefined;
  const id = host ? `${host.toLowerCase().replace(/^\[(.*)\]$/, '$1')}/${cleaned}` : `local:${cleaned}`;
  return sanitize(id);
}

function sanitize(id: string): string {
  return id.replace(/[\s{}\u0000-\u001f\u007f]/g, '_').slice(0, MAX_PROJECT_ID);
}

/** The url of `[remote "origin"]` in a git config file's text. */
export function originFromGitConfig(text: string): string | undefined {
  let inOrigin = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('[')) {
      inOrigin = /^\[\s*remote\s+"origin"\s*\]$/i.test(line);
      continue;
    }
    if (!inOrigin) continue;
    const m = /^url\s*=\s*(.*)$/i.exec(line);
    if (m) return m[1]!.replace(/^"(.*)"$/, '$1').trim();
  }
  return undefined;
}

/** The folder holding the repository's config: `.git`, or where a `.git` file (worktree, submodule) points. */
/**
 * The project id of a workspace folder: `<host>/<owner>/<repo>` from the
 * origin of the enclosing repository (with `:<sub/folder>` when the folder is
 * inside it), the same from every worktree; a repository with no origin is
 * `dir-<name>-<hash of its common git folder>`; no repository,
 * `dir-<name>-<hash of the real path>`.
 */
export async function projectIdFor(root: string): Promise<string> {
  const real = await fs.realpath(root).catch(() => path.resolve(root));
  const layout = await findGitLayout(real);
  if (!layout) return folderId(path.basename(real), real);
  // Every worktree of a repository reads the one config in its common folder.
  const origin = originFromGitConfig(await fs.readFile(path.join(layout.commonDir, 'config'), 'utf8').catch(() => ''));
  // Without an origin the repository is its common folder: still one project for all its worktrees.
  const repoName =
    path.basename(layout.commonDir) === '.git' ? path.basename(path.dirname(layout.commonDir)) : path.basename(layout.commonDir, '.git');
  const id = (origin ? normalizeOriginUrl(origin) : undefined) ?? folderId(repoName, layout.commonDir);
  const sub = path.relative(layout.worktree, real).split(path.sep).join('/');
  return sanitize(sub ? `${id}:${sub}` : id);
}

function folderId(name: string, real: string): string {
  return `dir-${name.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 40) || 'root'}-${createHash('sha256').update(real).digest('hex').slice(0, 16)}`;
}
