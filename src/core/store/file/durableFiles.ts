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

/** A temp file beside `file`, written and fsynced; removed again if that fails. */
async function writeTemp(file: string, content: string | Buffer): Promise<string> {
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
  return temp;
}

/**
 * Replaces `file` so that a crash at any instant leaves either the old or
 * the new content: temp file in the same folder, fsync, rename, fsync the
 * folder (write-file-atomic skips the last step and follows symlinks).
 */
export async function writeFileDurable(file: string, content: string | Buffer): Promise<void> {
  await (await prepareReplace(file, content)).commit();
}

/**
 * writeFileDurable in two steps: the new content written and fsynced now, the rename that puts it in place
 * later, so that a last check can come right before the rename (not before an fsync).
 */
export async function prepareReplace(
  file: string,
  content: string | Buffer,
): Promise<{ commit(): Promise<void>; discard(): Promise<void> }> {
  await assertRegularFileOrMissing(file);
  const temp = await writeTemp(file, content);
  return {
    commit: async () => {
      await fs.rename(temp, file);
      await fsyncDir(path.dirname(file));
    },
    discard: () => fs.rm(temp, { force: true }),
  };
}

/** A file system without hard links (FAT: EPERM; some FUSE ones: ENOSYS, ENOTSUP). */
const NO_LINKS = new Set(['EPERM', 'ENOSYS', 'ENOTSUP', 'EOPNOTSUPP']);

/**
 * Creates `file` whole (temp file, fsync, link) unless it exists: false then, and the file is left as it is. For
 * files others may already be using: a writer whose lock was taken over while it was stopped must never replace
 * them (a log replaced under the processes appending to it keeps their acknowledged lines only in the old inode).
 * Where links are refused, it looks and then renames: only a stop between the two can replace.
 */
export async function createFileDurable(file: string, content: string | Buffer): Promise<boolean> {
  const temp = await writeTemp(file, content);
  try {
    await fs.link(temp, file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') return false;
    if (!NO_LINKS.has(code)) throw unsafeOnLoop(e, file);
    const exists = await fs.lstat(file).then(
      () => true,
      () => false,
    );
    if (exists) return false;
    await fs.rename(temp, file);
  } finally {
    await fs.rm(temp, { force: true });
  }
  await fsyncDir(path.dirname(file));
  return true;
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
