/**
 * How a process is told which store to use, read without loading any store
 * (the edit hook checks it before every tool call).
 */

/** The environment variable that selects the store (same URL form as `--store`). */
export const STORE_ENV = 'SESSION_COORDINATOR_STORE';
/** Optional: the project id on the server, when the derived one does not suit (two clones that must not share). */
export const PROJECT_ID_ENV = 'SESSION_COORDINATOR_PROJECT_ID';

/** The first of `--store`, `$SESSION_COORDINATOR_STORE`, the `sessionCoordinator.store.url` setting that is set. */
export function selectStoreUrl(...candidates: Array<string | undefined>): string | undefined {
  for (const c of candidates) if (c !== undefined && c.trim() !== '') return c.trim();
  return undefined;
}
