import * as path from 'node:path';
import { findGitLayout } from '../../repository/gitLayout.js';

/**
 * Where the file store keeps a project's data. A module of its own so that
 * the edit hook can look without loading the store.
 */
export const STORE_FOLDER = '.session-coordinator';
/** Its name inside a repository's common git folder. */
export const GIT_STORE_FOLDER = 'session-coordinator';

export interface StoreLocation {
  /** The folder the store's path is checked from (no symlink below it): the project root or the common git folder. */
  readonly anchor: string;
  readonly dir: string;
}

/**
 * In a git repository the store lives in the repository's common git folder:
 * every worktree of the repository finds the same one there, and git never
 * commits it. Elsewhere, in `<root>/.session-coordinator`.
 */
export async function storeLocation(projectRoot: string): Promise<StoreLocation> {
  const layout = await findGitLayout(projectRoot);
  return layout
    ? { anchor: layout.commonDir, dir: path.join(layout.commonDir, GIT_STORE_FOLDER) }
    : { anchor: projectRoot, dir: path.join(projectRoot, STORE_FOLDER) };
}

/** `<store>/ns/<namespace>`: one shard. */
export async function namespaceFolder(projectRoot: string, namespace: string): Promise<string> {
  return path.join((await storeLocation(projectRoot)).dir, 'ns', namespace);
}
