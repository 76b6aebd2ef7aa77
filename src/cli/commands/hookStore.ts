import { EditGuard, type GuardDecision, type GuardRequest } from '../../core/guard/editGuard.js';
import { Mailbox } from '../../core/messages/mailbox.js';
import { StreamLogger } from '../../core/logging/logger.js';
import { Metrics } from '../../core/metrics/metrics.js';
import { openSharedStore } from '../../core/store/openSharedStore.js';
import { PROJECT_ID_ENV, selectStoreUrl, STORE_ENV } from '../../core/store/storeEnv.js';

/**
 * The guard with no participant live: the same rules, over the workspace's
 * store, from this short-lived process. Loaded only on this path, so the
 * common case (a live window) does not pay for the store's code.
 */
export async function decideOverStore(workspace: string, request: GuardRequest, env: NodeJS.ProcessEnv): Promise<GuardDecision> {
  const url = selectStoreUrl(env[STORE_ENV]);
  const projectId = env[PROJECT_ID_ENV];
  const metrics = new Metrics();
  const store = await openSharedStore(url ? { url, ...(projectId ? { projectId } : {}) } : {}, {
    projectRoot: workspace,
    participant: { kind: 'headless', label: 'edit guard hook' },
    metrics,
    logger: new StreamLogger(process.stderr, 'error'),
  });
  try {
    const mailbox = new Mailbox({ store: () => store, metrics, localActors: () => [] });
    return await new EditGuard({ store, projectRoot: () => workspace, metrics, mailbox }).decide(request);
  } finally {
    await store.dispose();
  }
}
