import { StreamLogger } from '../../core/logging/logger.js';
import type { Metrics } from '../../core/metrics/metrics.js';
import { openSharedStore } from '../../core/store/openSharedStore.js';
import type { SharedStore } from '../../core/store/sharedStore.js';
import { PROJECT_ID_ENV } from '../../core/store/storeEnv.js';

/**
 * The workspace's store, opened by a short-lived command (the hook with no
 * participant live, `message`): Redis when a URL is given, else the files.
 */
export function openWorkspaceStore(
  workspace: string,
  url: string | undefined,
  label: string,
  metrics: Metrics,
  env: NodeJS.ProcessEnv = process.env,
): Promise<SharedStore> {
  const projectId = env[PROJECT_ID_ENV];
  return openSharedStore(url ? { url, ...(projectId ? { projectId } : {}) } : {}, {
    projectRoot: workspace,
    participant: { kind: 'headless', label },
    metrics,
    logger: new StreamLogger(process.stderr, 'error'),
    // A command's process waits for its one write anyway: blocking calls cost it half the CPU.
    fileOptions: { io: 'blocking' },
  });
}
