import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { Metrics } from '../metrics/metrics.js';
import { findGitLayout, type GitLayout } from '../repository/gitLayout.js';
import type { SharedStore } from '../store/sharedStore.js';

/**
 * A project the coordinator works on: where claim paths start (the git
 * checkout holding the folder, else the folder), where it sits in git, and
 * the store its claims live in. The first workspace folder's is the
 * coordinator's own; a session rooted in another folder works in that
 * folder's project, with that project's store, shared with every window and
 * `serve` opened on it (R-SEC-7).
 */
export interface ProjectScope {
  readonly root: string;
  readonly layout: GitLayout | undefined;
  readonly store: SharedStore;
  /** The coordinator's own project (the first workspace folder's). */
  readonly primary: boolean;
}

export interface OtherProjectsDeps {
  /** The allowed roots (workspace folders, allowed paths): a project outside all of them is never opened. */
  readonly allowedRoots: () => readonly string[];
  /** Opens a project's own store; each gets its own metrics (its gauges must not replace the primary store's). */
  readonly open: (projectRoot: string, metrics: Metrics) => Promise<SharedStore>;
  readonly onOpened: (scope: ProjectScope) => void;
  readonly logger: Logger;
}

/** Stores of other projects kept open at once; a window rarely has more than a few folders. */
export const MAX_OTHER_PROJECTS = 8;

export function isInside(root: string, dir: string): boolean {
  const rel = path.relative(root, dir);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * The projects of folders other than the first: found from a session's
 * (real) root, opened on first use, kept until the coordinator ends.
 */
export class OtherProjects {
  private readonly scopes = new Map<string, Promise<ProjectScope | undefined>>();
  private readonly opened: ProjectScope[] = [];

  constructor(private readonly deps: OtherProjectsDeps) {}

  /** Every other project opened so far. */
  list(): readonly ProjectScope[] {
    return this.opened;
  }

  /**
   * The project holding `dir` (a real path outside the primary project), or
   * undefined when it is in no allowed root or cannot get a store. A worktree
   * of the primary repository shares the primary store (issue 17).
   */
  async of(dir: string, primary: ProjectScope): Promise<ProjectScope | undefined> {
    const layout = await findGitLayout(dir);
    let root = layout?.worktree;
    if (!root) {
      const allowed = await Promise.all(this.deps.allowedRoots().map((r) => fs.realpath(r).catch(() => undefined)));
      root = allowed.filter((r): r is string => r !== undefined && isInside(r, dir)).sort((a, b) => b.length - a.length)[0];
    }
    if (!root) return undefined;
    if (layout && primary.layout && layout.commonDir === primary.layout.commonDir)
      return { root, layout, store: primary.store, primary: false };
    let scope = this.scopes.get(root);
    if (!scope) {
      if (this.scopes.size >= MAX_OTHER_PROJECTS) return undefined;
      scope = this.openScope(root, layout);
      this.scopes.set(root, scope);
    }
    return scope;
  }

  private async openScope(root: string, layout: GitLayout | undefined): Promise<ProjectScope | undefined> {
    try {
      const scope: ProjectScope = { root, layout, store: await this.deps.open(root, new Metrics()), primary: false };
      this.opened.push(scope);
      this.deps.onOpened(scope);
      return scope;
    } catch (e) {
      this.deps.logger.warn(`The shared store of ${root} cannot be used: ${errorMessage(e)}; claims there are refused`);
      this.scopes.delete(root);
      return undefined;
    }
  }

  async dispose(): Promise<void> {
    await Promise.all([...this.scopes.values()].map((s) => s.catch(() => undefined)));
    await Promise.all(this.opened.map((s) => s.store.dispose()));
  }
}
