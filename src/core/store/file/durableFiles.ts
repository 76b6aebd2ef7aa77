import { randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { assertRegularFileOrMissing, NOFOLLOW, unsafeOnLoop } from './safePaths.js';

export const TEMP_SUFFIX = '.tmp';

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `file` so that a crash at any instant leaves either the old or
 * the new content: temp file in the same folder, fsync, rename, fsync the
 * folder (write-file-atomic skips the last step and follows symlinks).
 */
export async function writeFileDurable(file: string, content: string | Buffer): Promise<void> {
  await assertRegularFileOrMissing(file);
  const temp = `${file}.${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`;
  let handle;
  try {
    handle = await fs.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NOFOLLOW, 0o600);
  } catch (e) {
    throw unsafeOnLoop(e, temp);
  }
  try {
    await handle.writeFile(content);
    await handle.sync();
  } catch (e) {
    await handle.close();
    await fs.rm(temp, { force: true });
    throw e;
  }
  await handle.close();
  await fs.rename(temp, file);
  await fsyncDir(path.dirname(file));
}

/** Temp files of writers killed mid-write: safe to remove only under the shard's lock. */
export async function removeTempFiles(dir: string): Promise<number> {
  let removed = 0;
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    if (name.endsWith(TEMP_SUFFIX)) {
      await fs.rm(path.join(dir, name), { force: true });
      removed++;
    }
  }
  return removed;
}
