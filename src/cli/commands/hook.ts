import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { GUARD_PATH, resourceFor, type GuardDecision, type GuardRequest } from '../../core/guard/editGuard.js';
import { answer, HOOK_CLIENTS, isHookClient, parseHookInput, type HookAnswer } from '../../core/agents/hookFormats.js';
import { withTimeout } from '../../core/concurrency/withTimeout.js';
import { errorMessage } from '../../core/errors.js';
import { coveringParticipants, installDir, loadOrCreateToken, readDiscoveries, type Discovery } from '../../core/install/installState.js';
import { provePeer } from '../../core/install/peerProof.js';
import { findGitLayout, type GitLayout } from '../../core/repository/gitLayout.js';
import { MESSAGES_NAMESPACE } from '../../core/store/rules/decisions.js';
import { namespaceFolder } from '../../core/store/file/storeLayout.js';
import { ACROSS_WORKTREES } from '../../core/store/actors.js';
import { selectStoreUrl, STORE_ENV } from '../../core/store/storeEnv.js';

/**
 * `session-coordinator hook <client>`: the edit guard an agent's own hook
 * runs before each tool call (R-AGT-4). It asks the workspace's live
 * participant, or the store itself when none is live, and answers in the
 * client's format. Exit codes: 0 allow (or not an edit), 2 deny, 1 the
 * hook itself is misconfigured (every client lets the edit through on 1).
 */
export interface HookOptions {
  workspace?: string;
  strict: boolean;
}

export interface HookIo {
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
}

/** A Write carries the whole file: big inputs are normal, but not unbounded ones. */
export const MAX_HOOK_INPUT_BYTES = 16 * 1024 * 1024;
const DECISION_TIMEOUT_MS = 5_000;

export const HOOK_EXIT = { allow: 0, misconfigured: 1, deny: 2 } as const;

/**
 * The project the edit belongs to: --workspace (setup writes it), else what the
 * agent says is its project, else its working folder (which may be a subfolder).
 */
function projectOf(options: HookOptions, env: NodeJS.ProcessEnv, cwd: string | undefined): string {
  return path.resolve(options.workspace ?? env.CLAUDE_PROJECT_DIR ?? env.GEMINI_PROJECT_DIR ?? cwd ?? process.cwd());
}

export async function hook(client: string | undefined, options: HookOptions, io: HookIo): Promise<HookAnswer> {
  if (client === undefined || !isHookClient(client)) {
    return {
      exitCode: HOOK_EXIT.misconfigured,
      stdout: '',
      stderr: `session-coordinator hook: needs a client, one of ${HOOK_CLIENTS.join(', ')}; the edit was not checked\n`,
    };
  }
  let strict = options.strict;
  const undecided = async (why: string): Promise<HookAnswer> => {
    strict ||= (await workspaceSetting(projectOf(options, io.env, undefined), 'guard.strict')) === 'true';
    // A guard that breaks the agent is worse than none: allow, and say so, unless asked to be strict.
    return strict
      ? answer(client, 'deny', `Session Coordinator could not check this edit (${why}), and guard.strict is on`)
      : answer(client, 'allow', `Session Coordinator could not check this edit: ${why}. It went through unguarded.`);
  };
  let raw: unknown;
  try {
    raw = JSON.parse(await readAll(io.stdin, MAX_HOOK_INPUT_BYTES));
  } catch (e) {
    return undecided(`its hook input is unreadable: ${errorMessage(e)}`);
  }
  let input;
  try {
    input = parseHookInput(client, raw, options.workspace ?? process.cwd(), { env: io.env, agentPid: await agentPid() });
  } catch (e) {
    return undecided(errorMessage(e));
  }
  if (input.kind === 'other') return { exitCode: 0, stdout: '', stderr: '' };
  if (!input.agent) return undecided('the hook input names no agent session (session_id)');
  const cwd = (raw as { cwd?: unknown }).cwd;
  const workspace = projectOf(options, io.env, typeof cwd === 'string' ? cwd : undefined);
  let place = await placeOf(workspace, io.env);
  const request: GuardRequest = { event: input.kind, agent: input.agent, client, paths: input.kind === 'edit' ? input.paths : [] };
  if (request.event === 'tool' && !(await mayHaveMessages(place, io.env))) return { exitCode: 0, stdout: '', stderr: '' };
  if (request.event === 'edit' && request.paths.length === 0)
    return undecided(`${input.kind === 'edit' ? input.tool : 'the tool'} names no file`);
  const outside = async (root: string): Promise<boolean> =>
    (await Promise.all(request.paths.map((p) => resourceFor(root, p).catch(() => undefined)))).every((r) => r === undefined);
  if (request.event === 'edit' && (await outside(place.claimRoot))) {
    // Another project's files (a multi-root window's other folder): its live participants judge them (R-SEC-7);
    // with none live, they are not ours to guard, and not worth opening a store for.
    const elsewhere = await otherProjectOf(path.resolve(request.paths[0]!), io.env);
    if (!elsewhere || (await outside(elsewhere.claimRoot))) return { exitCode: 0, stdout: '', stderr: '' };
    place = elsewhere;
  }
  let decision: GuardDecision;
  try {
    decision = await withTimeout(decide(place, request, io.env), DECISION_TIMEOUT_MS);
  } catch (e) {
    // Not an edit: nothing was guarded, and a missed message waits for the next call.
    if (request.event === 'tool') return { exitCode: 0, stdout: '', stderr: '' };
    return undecided(errorMessage(e));
  }
  if (request.event === 'end') return { exitCode: 0, stdout: '', stderr: '' };
  return decision.decision === 'deny'
    ? answer(client, 'deny', decision.reason, decision.context)
    : answer(client, 'allow', undefined, decision.context);
}

/** Where the agent works, read once per hook call: this runs before every tool call. */
interface Place {
  readonly workspace: string;
  readonly layout: GitLayout | undefined;
  /** Claims name paths from the top of the agent's checkout (the worktree), as a participant's do. */
  readonly claimRoot: string;
  /** The workspace's live participants, windows first. */
  readonly live: readonly Discovery[];
}

async function placeOf(workspace: string, env: NodeJS.ProcessEnv): Promise<Place> {
  const [layout, discoveries] = await Promise.all([findGitLayout(workspace), readDiscoveries(installDir(env))]);
  const live = await coveringParticipants(discoveries, workspace, layout ?? null);
  return { workspace, layout, claimRoot: layout?.worktree ?? workspace, live };
}

/** The place of a file outside the agent's project, when a live participant covers it: its checkout, else the folder it serves. */
async function otherProjectOf(file: string, env: NodeJS.ProcessEnv): Promise<Place | undefined> {
  const place = await placeOf(path.dirname(file), env);
  const served = place.live.flatMap((d) => d.workspaceRoots).find((r) => file.startsWith(r + path.sep));
  const claimRoot = place.layout?.worktree ?? served;
  // The workspace too: should no participant prove itself, the store opened is that project's, not the file's folder's.
  return place.live.length > 0 && claimRoot ? { ...place, workspace: claimRoot, claimRoot } : undefined;
}

/**
 * Before a tool that is not an edit, the hook only delivers messages: with a
 * participant live that is one loopback call; with none, the store is opened
 * only once anyone has sent a message on this project (or it is on a server).
 */
async function mayHaveMessages(place: Place, env: NodeJS.ProcessEnv): Promise<boolean> {
  if (selectStoreUrl(env[STORE_ENV]) || place.live.length > 0) return true;
  return fs.stat(await namespaceFolder(place.workspace, MESSAGES_NAMESPACE)).then(
    () => true,
    () => false,
  );
}

/** The live participant decides (one loopback call); with none, the store itself, in this process. */
async function decide(place: Place, request: GuardRequest, env: NodeJS.ProcessEnv): Promise<GuardDecision> {
  const { workspace, live } = place;
  const token = live.length > 0 ? await loadOrCreateToken(installDir(env), env) : '';
  for (const target of live) {
    // The token goes only to a process that proves it holds it: a stale discovery file may name anyone's port.
    if (
      await provePeer(target.url, token).then(
        () => true,
        () => false,
      )
    )
      return postGuard(new URL(GUARD_PATH, target.url), token, request);
  }
  const { decideOverStore } = await import('./hookStore.js');
  const across = (await workspaceSetting(workspace, 'claims.acrossWorktrees'))?.replace(/"/g, '');
  return decideOverStore(workspace, place.claimRoot, request, env, place.layout, ACROSS_WORKTREES.find((a) => a === across) ?? 'warn');
}

function postGuard(url: URL, token: string, request: GuardRequest): Promise<GuardDecision> {
  const body = JSON.stringify(request);
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          try {
            const parsed = JSON.parse(text) as GuardDecision & { error?: { message?: string } };
            if (res.statusCode !== 200)
              reject(new Error(`the coordinator answered ${res.statusCode}: ${parsed.error?.message ?? text.slice(0, 200)}`));
            else resolve(parsed);
          } catch (e) {
            reject(e);
          }
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function readAll(stream: NodeJS.ReadableStream, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  // Read to the end even past the limit: a client whose pipe breaks mid-write may count that as a crash.
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
  }
  if (size > limit) throw new Error(`it is over ${limit} bytes`);
  return Buffer.concat(chunks).toString('utf8');
}

/** The agent's process: our parent, or its parent when a shell ran the hook's command line. */
async function agentPid(): Promise<number> {
  try {
    const stat = await fs.readFile(`/proc/${process.ppid}/stat`, 'utf8');
    const [, comm, rest] = /^\d+ \((.*)\) (.*)$/s.exec(stat) ?? [];
    const grandparent = Number(rest?.split(' ')[1]);
    return comm && ['sh', 'dash', 'bash', 'zsh'].includes(comm) && grandparent > 1 ? grandparent : process.ppid;
  } catch {
    return process.ppid;
  }
}

/**
 * A `sessionCoordinator.<key>` setting in the workspace's .vscode/settings.json
 * (JSON with comments), as its JSON text: `true`, `"refuse"`; undefined when unset.
 */
async function workspaceSetting(workspace: string, key: string): Promise<string | undefined> {
  try {
    const text = (await fs.readFile(path.join(workspace, '.vscode', 'settings.json'), 'utf8')).replace(/^\s*\/\/.*$/gm, '');
    return new RegExp(`"sessionCoordinator\\.${key.replace(/\./g, '\\.')}"\\s*:\\s*("[^"]*"|true|false)`).exec(text)?.[1];
  } catch {
    return undefined;
  }
}
