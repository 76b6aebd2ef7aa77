import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * Per-install state outside any workspace: the HTTP token and the discovery
 * files of live participants. Everything here is mode 0600 in a 0700 folder.
 */
export function installDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SESSION_COORDINATOR_HOME) return path.resolve(env.SESSION_COORDINATOR_HOME);
  const state = env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state');
  return path.join(state, 'session-coordinator');
}

export interface Discovery {
  pid: number;
  url: string;
  kind: 'headless' | 'window';
  workspaceRoots: string[];
  startedAt: string;
}

async function ensurePrivateDir(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
}

/** The token from SESSION_COORDINATOR_TOKEN, else the one generated once for this install. */
export async function loadOrCreateToken(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const fromEnv = env.SESSION_COORDINATOR_TOKEN?.trim();
  if (fromEnv) return fromEnv;
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
    const token = (await fs.readFile(file, 'utf8')).trim();
    if (token) {
      await fs.chmod(file, 0o600);
      return token;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`The token file ${file} is empty; delete it to generate a new token`);
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

/** A participant serves a workspace when one of its roots is that folder, above it or below it. */
export function coversWorkspace(discovery: Discovery, workspace: string): boolean {
  return discovery.workspaceRoots.some((root) => workspace === root || workspace.startsWith(root + path.sep) || root.startsWith(workspace + path.sep));
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Live participants; discovery files of dead processes are swept on the way. */
export async function readDiscoveries(dir: string): Promise<Discovery[]> {
  let names: string[];
  try {
    names = await fs.readdir(participantsDir(dir));
  } catch {
    return [];
  }
  const live: Discovery[] = [];
  for (const name of names.filter((n) => n.endsWith('.json'))) {
    const file = path.join(participantsDir(dir), name);
    try {
      const entry = JSON.parse(await fs.readFile(file, 'utf8')) as Discovery;
      if (isAlive(entry.pid)) live.push(entry);
      else await fs.rm(file, { force: true });
    } catch {
      await fs.rm(file, { force: true });
    }
  }
  return live;
}
