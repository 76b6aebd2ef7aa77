import { describeAgent } from '../../core/agents/agentIdentity.js';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { CoordinatorSnapshot } from '../../core/coordinator.js';
import {
  coveringParticipants,
  installDir,
  namedInstallDir,
  loadOrCreateToken,
  readDiscoveries,
  type Discovery,
} from '../../core/install/installState.js';
import { provePeer } from '../../core/install/peerProof.js';
import { isInside } from '../../core/projects/projectScopes.js';
import { STATUS_PATH } from '../../core/mcp/httpEndpoint.js';
import { EXIT } from '../usage.js';

interface ParticipantStatus {
  participant: Discovery;
  snapshot?: CoordinatorSnapshot;
  error?: string;
}

async function fetchSnapshot(entry: Discovery, token: string, workspace: string): Promise<ParticipantStatus> {
  try {
    await provePeer(entry.url, token);
    const url = new URL(STATUS_PATH, entry.url);
    // The workspace's own project: a window's second folder has its own claims (an older build ignores this).
    url.searchParams.set('workspace', workspace);
    const res = await fetch(url, { headers: { Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(3000) });
    if (!res.ok) return { participant: entry, error: `HTTP ${res.status}` };
    return { participant: entry, snapshot: (await res.json()) as CoordinatorSnapshot };
  } catch (e) {
    return { participant: entry, error: e instanceof Error ? e.message : String(e) };
  }
}

function render(statuses: ParticipantStatus[], workspace: string, real: string): string {
  const lines = [`Workspace ${workspace}: ${statuses.length} live participant(s)`];
  for (const { participant, snapshot, error } of statuses) {
    lines.push('', `${participant.kind} pid ${participant.pid} at ${participant.url}${error ? `: unreachable (${error})` : ''}`);
    if (!snapshot) continue;
    lines.push(`  health: ${snapshot.health.status === 'ok' ? 'ok' : `ERROR ${snapshot.health.problems.join('; ')}`}`);
    const worktree = snapshot.participants.find((p) => p.pid === snapshot.pid)?.sessions.find((s) => s.worktree)?.worktree;
    lines.push(`  sessions: ${snapshot.sessions.length}${worktree ? `  worktree: ${worktree}` : ''}`);
    for (const s of snapshot.sessions) {
      const agent = s.agent ? `  agent=${describeAgent(s.agent)}` : '';
      // A window's sessions in its other folders are listed too: say where those work (not above or below here).
      const root = isInside(real, s.root) || isInside(s.root, real) ? '' : `  root=${s.root}`;
      lines.push(
        `    ${s.id}  ${s.client.name} ${s.client.version}${agent}  ${s.transport}  ${s.state.kind}${root}  requests=${s.requestCount} pending=${s.pendingCount}  tags=${s.tags.join(',') || '-'}`,
      );
    }
    // The project's claims, whoever holds them: the same list every participant of the project shows.
    const claims = snapshot.claims ?? [];
    lines.push(`  claims: ${claims.length}`);
    for (const c of claims) {
      const holder = c.holder.agent ? describeAgent(c.holder.agent) : c.holder.clientName;
      const where = c.holder.worktree ? `  worktree: ${c.holder.worktree}` : '';
      const via = c.holder.via === 'edit-guard' ? ' (edit guard)' : '';
      lines.push(
        `    ${c.resource}  held by ${holder}${via}, session ${c.holder.sessionId}${where}  until ${new Date(c.expiresAt).toISOString()}  fencing token ${c.fencingToken}`,
      );
    }
    for (const o of snapshot.acrossWorktrees ?? [])
      lines.push(
        `  across worktrees: ${o.resource} is changed in ${o.worktrees.map((w) => `${w.worktree ?? w.checkout} (${w.holder})`).join(' and ')}`,
      );
    const m = snapshot.metrics;
    lines.push(
      `  sessions.total=${String(m['sessions.total'] ?? 0)} evicted=${String(m['sessions.evicted'] ?? 0)} rejected=${String(m['sessions.rejected'] ?? 0)} requests.pending=${String(m['requests.pending'] ?? 0)}`,
    );
  }
  return lines.join('\n') + '\n';
}

export async function status(options: { workspace: string; json: boolean }): Promise<number> {
  const workspace = path.resolve(options.workspace);
  // A mistyped path is not "nobody serves it": say so, and suggest nothing that would fail next.
  const folder = await fs.stat(workspace).catch(() => undefined);
  if (!folder?.isDirectory()) {
    process.stderr.write(
      `${workspace} is not a folder${folder ? '' : ' (it does not exist)'}: status needs the workspace folder a participant serves\n`,
    );
    return EXIT.usage;
  }
  const dir = installDir();
  // A named install (--home or the variable): the serve the hint suggests must write its discovery file there too.
  const home = namedInstallDir();
  const live = await coveringParticipants(await readDiscoveries(dir), workspace);
  const token = live.length > 0 ? await loadOrCreateToken(dir) : '';
  const statuses = await Promise.all(live.map((d) => fetchSnapshot(d, token, workspace)));
  // Sessions' roots are real paths: compared with the workspace's.
  const real = await fs.realpath(workspace).catch(() => workspace);
  if (options.json) process.stdout.write(JSON.stringify({ workspace, participants: statuses }, null, 2) + '\n');
  else if (statuses.length === 0)
    process.stdout.write(
      `No live participant for ${workspace}. Start one with: session-coordinator serve --workspace ${workspace}${home ? ` --home ${home}` : ''}\n`,
    );
  else process.stdout.write(render(statuses, workspace, real));
  return statuses.length === 0 ? EXIT.noParticipant : EXIT.ok;
}
