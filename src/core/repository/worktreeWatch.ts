import { watch, type FSWatcher } from 'node:fs';
import * as path from 'node:path';
import { toDisposable, type Disposable } from '../lifecycle/disposable.js';
import type { GitLayout } from './gitLayout.js';

/** Behind the watches: a worktree removed while a watch was not possible is still noticed. */
export const WORKTREE_FALLBACK_MS = 30_000;
/** One `git worktree add/remove` is several events: they are answered once. */
const SETTLE_MS = 50;

/**
 * Calls `changed` soon after a linked worktree of the repository is added or
 * removed: git keeps one folder per linked worktree in `<common dir>/worktrees`,
 * so a watch there (and one on the common dir for that folder's coming and
 * going) sees every `git worktree remove`, with no timer running while
 * nothing happens. A slow timer stays behind for file systems without
 * notifications.
 */
export function watchWorktrees(layout: GitLayout, changed: () => void): Disposable {
  let settle: NodeJS.Timeout | undefined;
  const soon = (): void => {
    if (settle) return;
    settle = setTimeout(() => {
      settle = undefined;
      changed();
    }, SETTLE_MS);
    settle.unref();
  };
  const open = (dir: string, onEvent: (file: string | null) => void): FSWatcher | undefined => {
    try {
      const w = watch(dir, { persistent: false }, (_event, file) => onEvent(file ? String(file) : null));
      w.on('error', () => w.close());
      return w;
    } catch {
      // Not there (no linked worktree yet), or no notifications here: the common dir's watch or the timer covers it.
      return undefined;
    }
  };
  const listDir = path.join(layout.commonDir, 'worktrees');
  let list = open(listDir, soon);
  const common = open(layout.commonDir, (file) => {
    if (file !== null && file !== 'worktrees') return;
    list?.close();
    list = open(listDir, soon);
    soon();
  });
  const fallback = setInterval(changed, WORKTREE_FALLBACK_MS);
  fallback.unref();
  return toDisposable(() => {
    clearTimeout(settle);
    clearInterval(fallback);
    list?.close();
    common?.close();
  });
}
