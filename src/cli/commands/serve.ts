import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { agentFromEnv } from '../../core/agents/agentIdentity.js';
import { installDir, loadOrCreateToken, tokenPlace } from '../../core/install/installState.js';
import type { Logger } from '../../core/logging/logger.js';
import { serveStdio } from '../../core/mcp/stdioEndpoint.js';
import { Participant } from '../../core/participant.js';
import { PROJECT_ID_ENV } from '../../core/store/storeEnv.js';
import type { AcrossWorktrees } from '../../core/store/actors.js';
import type { StoreQuotas } from '../../core/store/rules/limits.js';
import { EXIT } from '../usage.js';

export interface ServeOptions {
  workspace: string;
  /** More folders of the workspace (a multi-root one): a session rooted in one claims in its project (R-SEC-7). */
  otherFolders?: readonly string[];
  stdio: boolean;
  http: boolean;
  port: number;
  maxSessions?: number;
  maxPending?: number;
  /** How long a session whose client's stream dropped is kept for it to come back. */
  disconnectGraceSeconds?: number;
  /** redis://... for a team on several machines; absent: files in the workspace. */
  store?: string;
  quotas?: Partial<StoreQuotas>;
  /** The same file claimed in another worktree of the repository: warn (default), refuse, off. */
  acrossWorktrees?: AcrossWorktrees;
  /** How the panel and whoami name this participant (connect serving in-process says so). */
  label?: string;
}

/** A headless participant: serves until a signal, or until its stdio client goes. */
export async function serve(options: ServeOptions, logger: Logger): Promise<number> {
  const workspace = path.resolve(options.workspace);
  const folders = [workspace, ...(options.otherFolders ?? []).map((f) => path.resolve(f))];
  // Each folder is checked before anything starts: a file or a typo would otherwise be a root (claims named from a file) or be dropped silently.
  for (const folder of folders) {
    const problem = await fs.stat(folder).then(
      (s) => (s.isDirectory() ? undefined : 'is not a folder'),
      () => 'does not exist',
    );
    if (problem) {
      process.stderr.write(`session-coordinator: --workspace ${folder} ${problem}\n`);
      return EXIT.failure;
    }
  }
  const dir = installDir();
  const participant = await Participant.start({
    kind: 'headless',
    label: options.label ?? 'session-coordinator serve',
    workspaceRoots: folders,
    logger,
    ...(options.quotas ? { quotas: options.quotas } : {}),
    ...(options.store
      ? { storeSelection: { url: options.store, ...(process.env[PROJECT_ID_ENV] ? { projectId: process.env[PROJECT_ID_ENV] } : {}) } }
      : {}),
    coordinator: {
      sessions: {
        ...(options.maxSessions ? { maxSessions: options.maxSessions } : {}),
        ...(options.disconnectGraceSeconds !== undefined ? { disconnectGraceMs: options.disconnectGraceSeconds * 1000 } : {}),
      },
      ...(options.maxPending ? { requests: { maxPerSession: options.maxPending } } : {}),
      ...(options.acrossWorktrees ? { claims: { acrossWorktrees: options.acrossWorktrees } } : {}),
    },
    ...(options.http ? { http: { port: options.port, token: await loadOrCreateToken(dir), installDir: dir } } : {}),
  });
  const health = participant.coordinator.health();
  if (health.status === 'error') {
    process.stderr.write(`session-coordinator: ${health.problems.join('; ')}\n`);
    await participant.stop('no workspace');
    return EXIT.failure;
  }
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  const stop = (reason: string): void => void participant.stop(reason).then(() => resolveDone(EXIT.ok));
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => stop(signal));
  if (participant.url) {
    // Where the token is, never the token: a client needs it for every request.
    const token = tokenPlace(dir);
    process.stderr.write(
      `Session Coordinator listening on ${participant.url}\nSend "Authorization: Bearer <token>", the token in ${token}\n`,
    );
  }
  if (options.stdio) {
    try {
      const agent = agentFromEnv(process.env);
      await serveStdio(participant.host, { stdin: process.stdin, stdout: process.stdout, onEnd: stop, ...(agent ? { agent } : {}) });
    } catch (e) {
      await participant.stop('startup failed');
      throw e;
    }
  }
  return done;
}
