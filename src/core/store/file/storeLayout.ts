import * as path from 'node:path';

/**
 * Where the file store keeps a project's data. A module of its own so that
 * the edit hook can look without loading the store.
 */
export const STORE_FOLDER = '.session-coordinator';

/** `<root>/.session-coordinator/ns/<namespace>`: one shard. */
export function namespaceFolder(projectRoot: string, namespace: string): string {
  return path.join(projectRoot, STORE_FOLDER, 'ns', namespace);
}
