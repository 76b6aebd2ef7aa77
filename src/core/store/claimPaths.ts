import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { withTimeout } from '../concurrency/withTimeout.js';
import { CoordinatorError, errorMessage } from '../errors.js';
import { pathResource, TASK_PREFIX } from './rules/claims.js';

/**
 * Claims name files, not spellings (R-CLM-1): a path is resolved to its real
 * location (symlinks followed, `..` and `//` gone) relative to the real
 * project root, and on a file system that ignores case it is compared in one
 * case. rules/claims.ts holds the pure rules over resources; this file is the
 * one place that asks the disk what a path names, asynchronously and within
 * a deadline (a hung network mount must not stall the extension host).
 */
/** The default deadline; the coordinator passes its root resolver's (`roots.timeoutMs`). */
export const PATH_TIMEOUT_MS = 2_000;

interface RootFacts {
  readonly real: string;
  readonly ignoresCase: boolean;
}

/** Facts about a root, re-read after a while: a symlinked root may be re-pointed. */
const ROOT_FACTS_TTL_MS = 10_000;
const MAX_ROOTS = 32;
const rootFacts = new Map<string, { facts: Promise<RootFacts>; until: number }>();

function factsOf(root: string, timeoutMs: number): Promise<RootFacts> {
  const now = Date.now();
  const cached = rootFacts.get(root);
  if (cached && cached.until > now) return cached.facts;
  const facts = (async (): Promise<RootFacts> => {
    const real = await bounded(fs.realpath(root), root, timeoutMs).catch((e: unknown) => {
      if (e instanceof CoordinatorError) throw e;
      throw new CoordinatorError('RootNotFound', `The project root ${root} cannot be resolved: ${errorMessage(e)}`, { root });
    });
    return { real, ignoresCase: await bounded(ignoresCase(real), root, timeoutMs) };
  })();
  facts.catch(() => rootFacts.delete(root));
  if (rootFacts.size >= MAX_ROOTS) rootFacts.delete(rootFacts.keys().next().value!);
  rootFacts.set(root, { facts, until: now + ROOT_FACTS_TTL_MS });
  return facts;
}

/**
 * Whether the file system under `dir` ignores case: a name of one of its
 * entries, in another case, finds a file although no entry is spelled so.
 * (Inode numbers cannot tell: FUSE file systems number each lookup anew.)
 * Falls back to the folder's own name; nothing to probe counts as case-sensitive.
 */
async function ignoresCase(dir: string): Promise<boolean> {
  const flip = (name: string): string => name.replace(/[a-zA-Z]/g, (c) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()));
  const probe = async (folder: string, only?: string): Promise<boolean | undefined> => {
    const names = await fs.readdir(folder).catch(() => [] as string[]);
    const listed = new Set(names);
    for (const name of only === undefined ? names.slice(0, 64) : [only]) {
      const flipped = flip(name);
      if (flipped === name || listed.has(flipped)) continue;
      return fs.lstat(path.join(folder, flipped)).then(
        () => true,
        () => false,
      );
    }
    return undefined;
  };
  return (await probe(dir)) ?? (await probe(path.dirname(dir), path.basename(dir))) ?? false;
}

/** The one case claims are compared in where the disk ignores case. */
export function foldCase(resource: string): string {
  return resource.normalize('NFC').toLowerCase();
}

function bounded<T>(work: Promise<T>, what: string, timeoutMs: number): Promise<T> {
  return withTimeout(work, timeoutMs).catch((e: unknown) => {
    if (e instanceof Error && e.message.startsWith('no answer within')) {
      throw new CoordinatorError('RootResolutionTimeout', `Resolving ${what} took longer than ${timeoutMs} ms`, { path: what, timeoutMs });
    }
    throw e;
  });
}

/** The real path of a file, or of the place it will have: the longest existing prefix resolved, the rest appended. */
async function realPathOf(file: string, asWritten: string): Promise<string> {
  const rest: string[] = [];
  let current = file;
  for (;;) {
    try {
      return path.join(await fs.realpath(current), ...rest.reverse());
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') throw new CoordinatorError('InvalidArgument', `${asWritten} goes through a symlink loop`, { path: asWritten });
      const parent = path.dirname(current);
      // Not there yet (a file about to be created), or under a file: resolve what exists.
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || parent === current) {
        throw new CoordinatorError('InvalidArgument', `Cannot resolve ${asWritten}: ${errorMessage(e)}`, { path: asWritten });
      }
      rest.push(path.basename(current));
      current = parent;
    }
  }
}

/**
 * The claim resource a file path names: its real path relative to the real
 * project root, in the disk's one case; undefined when its real location is
 * outside the project.
 */
export async function fileResourceOf(projectRoot: string, absolute: string, timeoutMs = PATH_TIMEOUT_MS): Promise<string | undefined> {
  const facts = await factsOf(projectRoot, timeoutMs);
  const real = await bounded(realPathOf(path.resolve(absolute), absolute), absolute, timeoutMs);
  if (!facts.ignoresCase) return pathResource(facts.real, real);
  return pathResource(foldCase(facts.real), foldCase(real));
}

/** A claim's resource, and the agent's own spelling when it names the file differently (a symlink, another case). */
export interface ClaimTarget {
  readonly resource: string;
  readonly alias?: string;
}

/**
 * `requested` as an agent wrote it (relative to its session root, or
 * task:<name>) -> the resource its claim is stored under. Refuses an empty
 * name and a path whose real location is outside the project, naming both.
 */
export async function claimTargetOf(
  requested: string,
  sessionRoot: string,
  projectRoot: string,
  timeoutMs = PATH_TIMEOUT_MS,
): Promise<ClaimTarget> {
  const trimmed = requested.trim();
  if (trimmed.startsWith(TASK_PREFIX)) {
    const name = trimmed.slice(TASK_PREFIX.length).trim();
    if (!name) throw new CoordinatorError('InvalidArgument', 'A task claim needs a name: task:<name>', { resource: requested });
    return { resource: `${TASK_PREFIX}${name}` };
  }
  if (!trimmed)
    throw new CoordinatorError('InvalidArgument', 'A claim needs a resource: a path inside the project or task:<name>', {
      resource: requested,
    });
  const absolute = path.resolve(sessionRoot, trimmed);
  const resource = await fileResourceOf(projectRoot, absolute, timeoutMs);
  if (resource === undefined) {
    const real = await realPathOf(absolute, requested).catch(() => absolute);
    const where = real === absolute ? '' : ` (it is ${real})`;
    throw new CoordinatorError('InvalidArgument', `Claim path ${requested} is outside the project root ${projectRoot}${where}`, {
      resource: requested,
      root: projectRoot,
      realPath: real,
    });
  }
  const spelled = pathResource(projectRoot, absolute);
  return spelled === undefined || spelled === resource ? { resource } : { resource, alias: spelled };
}

/** An error about a claim, told in the agent's own spelling too: "link/a.ts is src/a.ts here: src/a.ts is claimed by…". */
export function inAgentsWords(e: unknown, target: ClaimTarget): unknown {
  if (!target.alias || !(e instanceof CoordinatorError)) return e;
  return new CoordinatorError(e.code, `${target.alias} is ${target.resource} here: ${e.message}`, {
    ...e.details,
    asWritten: target.alias,
  });
}
