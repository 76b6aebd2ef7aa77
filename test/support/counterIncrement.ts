import type { Actor } from '../../src/core/store/actors.js';
import type { SharedStore } from '../../src/core/store/sharedStore.js';

/**
 * One increment of a counter key, as the store tests and the store bench do
 * it: `update` (read-modify-write under the store's own lock), `cas` (get,
 * then set with expectedVersion, retried on VersionConflict), or `incr`
 * (SharedStore.increment: the store adds, as data). Returns how many
 * conflicts it retried.
 */
export async function incrementCounter(
  store: SharedStore,
  mode: 'update' | 'cas' | 'incr',
  namespace: string,
  key: string,
  by: Actor,
): Promise<number> {
  if (mode === 'incr') {
    await store.increment(namespace, key, 1, by);
    return 0;
  }
  if (mode === 'update') {
    await store.update(namespace, key, (c) => ((c?.value as number | undefined) ?? 0) + 1, by);
    return 0;
  }
  for (let conflicts = 0; ; conflicts++) {
    const current = await store.get(namespace, key);
    try {
      await store.set(namespace, key, ((current?.value as number | undefined) ?? 0) + 1, by, { expectedVersion: current?.version ?? 0 });
      return conflicts;
    } catch (e) {
      if ((e as { code?: string }).code !== 'VersionConflict') throw e;
    }
  }
}
