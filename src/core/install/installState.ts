import { randomBytes } from 'node:crypto';
import { constants as fsConstants, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CoordinatorError } from '../errors.js';
import { findGitLayout, type GitLayout } from '../repository/gitLayout.js';
import { isLoopbackUrl } from './peerProof.js';

/**
 * Per-install state outside any workspace: the HTTP token and the discovery
 * files of live participants. Everything here is mode 0600 in a 0700 folder.
 */
export function installDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SESSION_COORDINATOR_HOME) return path.resolve(env.SESSION_COORDINATOR_HOME);
  const state = env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state');
  return path.join(state, 'session-coordinator');
}

/**
 * The install folder SESSION_COORDINATOR_HOME names (absolute), else undefined: what the configs and hooks written
 * from this environment pass on with --home, so an agent started elsewhere finds the participants live there.
 */
export function namedInstallDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.SESSION_COORDINATOR_HOME ? path.resolve(env.SESSION_COORDINATOR_HOME) : undefined;
}

export interface Discovery {
  pid: number;
  url: string;
  kind: 'headless' | 'window';
  workspaceRoots: string[];
  startedAt: string;
}

/** A token shorter than this is guessable by any local process that can reach the port (R-SEC-5). */
export const MIN_TOKEN_CHARS = 32;

/**
 * The install folder holds the token: it must be ours and private. An older
 * or hand-made one with mode 0755 is tightened; one owned by another user is
 * refused (it could be swapped under us).
 */
async function ensurePrivateDir(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const stat = await fs.stat(dir);
  checkOwner(dir, stat);
  if ((stat.mode & 0o077) !== 0) await fs.chmod(dir, 0o700);
}

function checkOwner(file: string, stat: { uid: number }): void {
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid) {
    throw new CoordinatorError(
      'UnsafeStorePath',
      `${file} belongs to user ${stat.uid}, not to you (${uid}); the coordinator keeps its token only in a folder of your own`,
      { path: file },
    );
  }
}

/** Where a client finds the token loadOrCreateToken gives (never the token): the variable's name, or the file. */
export function tokenPlace(dir: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.SESSION_COORDINATOR_TOKEN?.trim() ? 'SESSION_COORDINATOR_TOKEN' : path.join(dir, 'token');
}

/** The token from SESSION_COORDINATOR_TOKEN, else the one generated once for this install. */
export async function loadOrCreateToken(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const fromEnv = env.SESSION_COORDINATOR_TOKEN?.trim();
  if (fromEnv) {
    if (fromEnv.length < MIN_TOKEN_CHARS) {
      throw new CoordinatorError(
        'InvalidArgument',
        `SESSION_COORDINATOR_TOKEN is ${fromEnv.length} characters; a token needs at least ${MIN_TOKEN_CHARS} (for example: openssl rand -base64 32), or unset it to use the one generated for this install`,
        { length: fromEnv.length, minimum: MIN_TOKEN_CHARS },
      );
    }
    return fromEnv;
  }
  await ensurePrivateDir(dir);
  const file = path.join(dir, 'token');
  try {
    const handle = await fs.open(file, 'wx', 0o600);
    const token = randomBytes(32).toString('base64url');
    await handle.writeFile(token + '\n');
    await handle.sync();
    await handle.close();
    return token;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  // Another process created it first, possibly a moment ago: wait for its content.
  for (let attempt = 0; attempt < 50; attempt++) {
    const token = await readTokenFile(file);
    if (token) return token;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`The token file ${file} is empty; delete it to generate a new token`);
}

/** The token file itself, never through a symlink, ours, and private. */
async function readTokenFile(file: string): Promise<string> {
  let handle;
  try {
    handle = await fs.open(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') {
      throw new CoordinatorError(
        'UnsafeStorePath',
        `${file} is a symlink; the token is read only from a plain file (delete it to generate a new token)`,
        { path: file },
      );
    }
    throw e;
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile())
      throw new CoordinatorError('UnsafeStorePath', `${file} is not a plain file; delete it to generate a new token`, { path: file });
    checkOwner(file, stat);
    if ((stat.mode & 0o077) !== 0) await handle.chmod(0o600);
    return (await handle.readFile('utf8')).trim();
  } finally {
    await handle.close();
  }
}

function participantsDir(dir: string): string {
  return path.join(dir, 'participants');
}

export async function writeDiscovery(dir: string, entry: Discovery): Promise<string> {
  await ensurePrivateDir(participantsDir(dir));
  const file = path.join(participantsDir(dir), `${entry.pid}.json`);
  const temp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  await fs.writeFile(temp, JSON.stringify(entry, null, 2), { mode: 0o600 });
  await fs.rename(temp, file);
  return file;
}

/**
 * The live participants that serve `workspace`, windows first (a person watches there): one of their roots is that folder or holds it, or lies inside it in
 * the same git repository (a window opened on a subfolder shares the repository's store and guards all of it). A
 * participant on a folder inside the workspace that is a project of its own (another repository, or none) serves
 * none of the workspace's other files: asked about them it would let their edits through unguarded.
 * `layout`: the workspace's own, when the caller has read it (null: not in a repository).
 */
export async function coveringParticipants(
  discoveries: readonly Discovery[],
  workspace: string,
  layout?: GitLayout | null,
): Promise<Discovery[]> {
  // Read only when a participant's root lies inside the workspace (the hook runs this before every tool call).
  let repository: Promise<string | undefined> | undefined = layout === undefined ? undefined : Promise.resolve(layout?.commonDir);
  const covers = async (root: string): Promise<boolean> => {
    if (workspace === root || workspace.startsWith(root + path.sep)) return true;
    if (!root.startsWith(workspace + path.sep)) return false;
    repository ??= findGitLayout(workspace).then((l) => l?.commonDir);
    const ours = await repository;
    return ours !== undefined && (await findGitLayout(root))?.commonDir === ours;
  };
  const served = await Promise.all(discoveries.map(async (d) => (await Promise.all(d.workspaceRoots.map(covers))).some(Boolean)));
  return discoveries.filter((_, i) => served[i]).sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'window' ? -1 : 1));
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * When a process started (ms since the epoch), where the system says so
 * (Linux); undefined elsewhere. A pid reused by a later process is told
 * apart from the participant that wrote a discovery file by this.
 */
async function processStartedAt(pid: number): Promise<number | undefined> {
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses); starttime is field 22.
    const startTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    bootTime ??= fs.readFile('/proc/stat', 'utf8').then((t) => Number(/^btime (\d+)$/m.exec(t)?.[1]) * 1000);
    const boot = await bootTime;
    // USER_HZ is 100 on every Linux we run on.
    return Number.isFinite(startTicks) && Number.isFinite(boot) ? boot + startTicks * 10 : undefined;
  } catch {
    return undefined;
  }
}
let bootTime: Promise<number> | undefined;

/**
 * Whether the participant that wrote `entry` is still there: `dead` (its pid
 * is gone: the file is swept), `other` (the pid is alive but belongs to a
 * process started after the file was written: never contacted, but not
 * deleted either, since a wall clock stepped back could make that look so),
 * or `live`.
 */
async function stateOf(entry: Discovery): Promise<'live' | 'dead' | 'other'> {
  if (!isAlive(entry.pid)) return 'dead';
  const started = await processStartedAt(entry.pid);
  const wrote = Date.parse(entry.startedAt);
  // btime has 1 s resolution: allow for it.
  return started === undefined || !Number.isFinite(wrote) || started <= wrote + 2_000 ? 'live' : 'other';
}

function isDiscovery(v: unknown): v is Discovery {
  const d = v as Partial<Discovery> | null;
  return (
    typeof d === 'object' &&
    d !== null &&
    Number.isSafeInteger(d.pid) &&
    (d.pid as number) > 0 &&
    typeof d.url === 'string' &&
    (d.kind === 'window' || d.kind === 'headless') &&
    Array.isArray(d.workspaceRoots) &&
    d.workspaceRoots.every((r) => typeof r === 'string') &&
    typeof d.startedAt === 'string'
  );
}

/**
 * Live participants; discovery files of dead processes are swept on the
 * way, and one whose pid now belongs to a later process is passed over. Only loopback URLs count:
 * clients send the token where these point (after a proof, see peerProof.ts).
 */
export async function readDiscoveries(dir: string): Promise<Discovery[]> {
  let names: string[];
  try {
    names = await fs.readdir(participantsDir(dir));
  } catch {
    return [];
  }
  const live: Discovery[] = [];
  for (const name of names.filter((n) => /^\d+\.json$/.test(n))) {
    const file = path.join(participantsDir(dir), name);
    try {
      const entry: unknown = JSON.parse(await fs.readFile(file, 'utf8'));
      if (!isDiscovery(entry) || `${entry.pid}.json` !== name || !isLoopbackUrl(entry.url)) continue;
      const state = await stateOf(entry);
      if (state === 'live') live.push(entry);
      else if (state === 'dead') await fs.rm(file, { force: true });
    } catch {
      await fs.rm(file, { force: true });
    }
  }
  return live;
}
