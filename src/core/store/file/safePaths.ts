import { constants, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { CoordinatorError } from '../../errors.js';

/**
 * The store never follows a link out of its folder: every component from the
 * project root down must be a real directory, and files are opened with
 * O_NOFOLLOW. A symlink, FIFO or device on the path is refused, by name.
 */
export async function assertRealDirectory(dir: string): Promise<void> {
  let stat;
  try {
    stat = await fs.lstat(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (!stat.isDirectory() || stat.isSymbolicLink()) {
    throw new CoordinatorError(
      'UnsafeStorePath',
      `Refusing to use ${dir}: it is ${describe(stat)}, not a plain folder; remove it and the coordinator recreates it`,
      { path: dir },
    );
  }
}

/** Checks each component below `root` down to `target`. */
export async function assertRealPath(root: string, target: string): Promise<void> {
  const relative = path.relative(root, target);
  if (relative.startsWith('..') || path.isAbsolute(relative)) {
    throw new CoordinatorError('UnsafeStorePath', `Refusing to write outside the store: ${target}`, { path: target });
  }
  let current = root;
  for (const part of relative.split(path.sep).filter(Boolean)) {
    current = path.join(current, part);
    await assertRealDirectory(current);
  }
}

/** A regular file or nothing: anything else at a store file's path is refused. */
export async function assertRegularFileOrMissing(file: string): Promise<void> {
  try {
    const stat = await fs.lstat(file);
    if (!stat.isFile()) {
      throw new CoordinatorError('UnsafeStorePath', `Refusing to use ${file}: it is ${describe(stat)}, not a regular file`, { path: file });
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

export const NOFOLLOW = constants.O_NOFOLLOW;

export function unsafeOnLoop(e: unknown, file: string): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ELOOP' || code === 'EMLINK') {
    return new CoordinatorError('UnsafeStorePath', `Refusing to follow a symlink at ${file}`, { path: file });
  }
  return e;
}

function describe(stat: import('node:fs').Stats): string {
  if (stat.isSymbolicLink()) return 'a symlink';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  if (stat.isSocket()) return 'a socket';
  if (stat.isDirectory()) return 'a folder';
  return 'a file';
}
