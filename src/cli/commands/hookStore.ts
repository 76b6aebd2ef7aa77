import { EditGuard, type GuardDecision, type GuardRequest } from '../../core/guard/editGuard.js';
import { Mailbox } from '../../core/messages/mailbox.js';
import { Metrics } from '../../core/metrics/metrics.js';
import type { GitLayout } from '../../core/repository/gitLayout.js';
import type { AcrossWorktrees } from '../../core/store/actors.js';
import { selectStoreUrl, STORE_ENV } from '../../core/store/storeEnv.js';
import { openWorkspaceStore } from './workspaceStore.js';

/**
 * The guard with no participant live: the same rules, over the workspace's
 * store, from this short-lived process. Loaded only on this path, so the
 * common case (a live window) does not pay for the store's code.
 */
export async function decideOverStore(
  workspace: string,
  claimRoot: string,
  request: GuardRequest,
  env: NodeJS.ProcessEnv,
  layout: GitLayout | undefined,
  across: AcrossWorktrees,
): Promise<GuardDecision> {
  const metrics = new Metrics();
  const store = await openWorkspaceStore(workspace, selectStoreUrl(env[STORE_ENV]), 'edit guard hook', metrics, env);
  try {
    const mailbox = new Mailbox({ store: () => store, metrics, localActors: () => [] });
    return await new EditGuard({
      store,
      projectRoot: () => claimRoot,
      metrics,
      mailbox,
      worktree: () => layout,
      acrossWorktrees: () => across,
    }).decide(request);
  } finally {
    await store.dispose();
  }
}
