import { CoordinatorError } from '../errors.js';
import { FileStore, type FileStoreOptions } from './file/fileStore.js';
import type { SharedStore, StoreDeps } from './sharedStore.js';
import { selectStoreUrl } from './storeEnv.js';
import { projectIdFor, validateProjectId } from './redis/projectId.js';
import { RedisStore, type RedisStoreOptions } from './redis/redisStore.js';
import { isRedisUrl, redactRedisUrl } from './redis/redisUrl.js';

/** Which store a participant uses: no URL is the file store in the workspace (the default). */
export interface StoreSelection {
  /** `redis://[[user]:password@]host[:port][/db]`, `rediss://...`; absent or empty: the file store. */
  url?: string;
  /** Configured project id; absent: derived from the repository's origin, else from the folder. */
  projectId?: string;
  /** A password kept apart from the URL (VS Code SecretStorage). */
  password?: string;
}

export interface OpenSharedStoreDeps extends StoreDeps {
  projectRoot: string;
  fileOptions?: Partial<FileStoreOptions>;
  redisOptions?: Partial<RedisStoreOptions>;
}

/** Opens the store a selection names; a throw puts the coordinator in local-only mode (R-CTX-8). */
export async function openSharedStore(selection: StoreSelection, deps: OpenSharedStoreDeps): Promise<SharedStore> {
  const url = selectStoreUrl(selection.url);
  if (url === undefined) {
    return FileStore.open({
      projectRoot: deps.projectRoot,
      participant: deps.participant,
      metrics: deps.metrics,
      logger: deps.logger,
      ...(deps.fileOptions ? { options: deps.fileOptions } : {}),
    });
  }
  if (!isRedisUrl(url)) {
    throw new CoordinatorError(
      'InvalidArgument',
      `Store ${redactRedisUrl(url)} is not supported: use redis://host:port/db or rediss://host:port/db, or no store URL for files in the workspace`,
      { url: redactRedisUrl(url) },
    );
  }
  const projectId = selection.projectId ? validateProjectId(selection.projectId) : await projectIdFor(deps.projectRoot);
  deps.logger.info(`Shared store: Redis at ${redactRedisUrl(url)}, project ${projectId}`);
  return RedisStore.open({
    url,
    projectId,
    ...(selection.password ? { password: selection.password } : {}),
    participant: deps.participant,
    metrics: deps.metrics,
    logger: deps.logger,
    ...(deps.redisOptions ? { options: deps.redisOptions } : {}),
  });
}
