import { describeAgent } from '../../core/agents/agentIdentity.js';
import * as path from 'node:path';
import type { CoordinatorSnapshot, ProjectClaim } from '../../core/coordinator.js';
import type { HistogramSummary } from '../../core/metrics/metrics.js';
import { describeHolder } from '../../core/store/rules/claims.js';
import { describeSender, PEOPLE, type Message } from '../../core/messages/messageRules.js';
import type { Actor } from '../../core/store/actors.js';
import type { PanelMessage, PanelProblem, PanelSession, PanelState, PanelThread, SeriesPoint } from './healthProtocol.js';

export interface PanelInputs {
  snapshot: CoordinatorSnapshot;
  claims: readonly ProjectClaim[];
  series: readonly SeriesPoint[];
  selfParticipantId: string;
  url: string | undefined;
  restrictedReason: string | undefined;
  /** This window's git checkout, when it is in one: the radar says which overlaps are its own. */
  checkout?: string;
  /** Each live addressee's inbox (and the people's), as read for this update. */
  inboxes?: ReadonlyArray<{ inbox: string; actor: Actor; messages: readonly Message[] }>;
}

const RECENT_MESSAGES = 5;

function panelMessage(m: Message): PanelMessage {
  return {
    id: m.id,
    at: m.sentAt,
    from: describeSender(m.from),
    subject: m.subject,
    body: m.body,
    state: m.readAt !== undefined ? 'read' : m.deliveredAt !== undefined ? 'delivered' : 'unread',
  };
}

/** People first, then agents with messages, newest first; an agent with none still gets a row to write to. */
function threads(inboxes: NonNullable<PanelInputs['inboxes']>): PanelThread[] {
  const out = inboxes.map((i) => ({
    inbox: i.inbox,
    who:
      i.inbox === PEOPLE
        ? 'People (this and other windows)'
        : i.actor.agent
          ? `${describeAgent(i.actor.agent)} (${i.actor.clientName})`
          : `${i.actor.clientName} (session ${i.actor.sessionId.slice(0, 8)})`,
    unread: i.messages.filter((m) => m.readAt === undefined).length,
    recent: i.messages.slice(-RECENT_MESSAGES).reverse().map(panelMessage),
    latest: i.messages.at(-1)?.sentAt ?? 0,
  }));
  out.sort((a, b) => (a.inbox === PEOPLE ? -1 : b.inbox === PEOPLE ? 1 : b.latest - a.latest));
  return out.map(({ latest: _latest, ...t }) => t);
}

function p99(value: unknown): number {
  return typeof value === 'object' && value !== null ? (value as HistogramSummary).p99 : 0;
}

/** One point of the trends, from what is in memory: the metrics and the (cached) presence. */
export function seriesPoint(
  snapshot: Pick<CoordinatorSnapshot, 'metrics' | 'participants'>,
  previousRequests: number,
  seconds: number,
): SeriesPoint & { requests: number } {
  const requests = Number(snapshot.metrics['mcp.requests'] ?? 0);
  const sessions = snapshot.participants.reduce((n, p) => n + p.sessions.length, 0);
  return {
    t: Date.now(),
    sessions,
    callsPerSecond: seconds > 0 ? Math.max(0, requests - previousRequests) / seconds : 0,
    lockWaitP99: p99(snapshot.metrics['store.lock.waitMs']),
    propagationP99: p99(snapshot.metrics['store.propagationMs']),
    requests,
  };
}

/**
 * What the panel shows, from one snapshot: every session of the workspace
 * (this window's in full, the others' from their presence), participants,
 * claims, the store, trends, and problems with what to do about them.
 */
export function buildPanelState(input: PanelInputs): PanelState {
  const { snapshot } = input;
  const local = new Map(snapshot.sessions.map((s) => [s.id, s]));
  const sessions: PanelSession[] = [];
  for (const p of snapshot.participants) {
    for (const s of p.sessions) {
      const mine = p.participantId === input.selfParticipantId ? local.get(s.id) : undefined;
      sessions.push({
        id: s.id,
        clientName: s.clientName,
        clientVersion: mine?.client.version ?? '',
        ...(s.agent ? { agent: describeAgent(s.agent) } : {}),
        transport: s.transport,
        root: s.root,
        state: mine?.state.kind ?? s.state,
        createdAt: mine?.createdAt ?? s.lastActivityAt,
        lastActivityAt: mine?.lastActivityAt ?? s.lastActivityAt,
        requestCount: mine?.requestCount ?? s.requestCount,
        pendingCount: mine?.pendingCount ?? 0,
        tags: mine?.tags ?? s.tags,
        participant: p.label,
        local: p.participantId === input.selfParticipantId,
      });
    }
  }
  // Sessions of this window not yet in its own presence file (it is written a moment later).
  const listed = new Set(sessions.map((s) => s.id));
  for (const s of snapshot.sessions) {
    if (listed.has(s.id)) continue;
    sessions.push({
      id: s.id,
      clientName: s.client.name,
      clientVersion: s.client.version,
      ...(s.agent ? { agent: describeAgent(s.agent) } : {}),
      transport: s.transport,
      root: s.root,
      state: s.state.kind,
      createdAt: s.createdAt,
      lastActivityAt: s.lastActivityAt,
      requestCount: s.requestCount,
      pendingCount: s.pendingCount,
      tags: s.tags,
      participant: 'this window',
      local: true,
    });
  }
  const problems: PanelProblem[] = [];
  if (snapshot.health.status === 'error') {
    for (const message of snapshot.health.problems)
      problems.push({
        severity: 'error',
        message,
        action: 'Open a folder (File > Open Folder) or add one to sessionCoordinator.allowedPaths.',
      });
  }
  if (input.restrictedReason)
    problems.push({
      severity: 'warning',
      message: input.restrictedReason,
      action: 'Trust this workspace to share context with other windows and agents.',
      command: 'workbench.trust.manage',
    });
  else if (snapshot.store.degraded)
    problems.push({
      severity: 'warning',
      message: `Local-only: ${snapshot.store.reason ?? 'the shared store is unavailable'}`,
      action: "Other windows and agents do not see this window's context and claims. Fix the cause, then restart the coordinator.",
      command: 'sessionCoordinator.restart',
    });
  const recoveries = Number(snapshot.metrics['store.recoveries'] ?? 0);
  if (recoveries > 0)
    problems.push({
      severity: 'warning',
      message: `The shared store repaired ${recoveries} corrupt snapshot(s) from backups and the event log.`,
      action: 'Nothing was lost if the event log was intact; see the log for details.',
      command: 'sessionCoordinator.showLog',
    });
  for (const ns of snapshot.store.namespaces.filter((n) => n.unreadable)) {
    problems.push({
      severity: 'warning',
      message: `Namespace ${ns.name}: ${ns.unreadable}`,
      action: 'The other namespaces work. Remove or fix the files of this one in the store folder, then restart the coordinator.',
      command: 'sessionCoordinator.showLog',
    });
  }
  const status: PanelState['status'] = input.restrictedReason
    ? 'restricted'
    : snapshot.health.status === 'error'
      ? 'error'
      : snapshot.store.degraded
        ? 'degraded'
        : 'ok';
  const statusText =
    status === 'ok'
      ? `${sessions.length} session${sessions.length === 1 ? '' : 's'} across ${snapshot.participants.length} participant${snapshot.participants.length === 1 ? '' : 's'}`
      : status === 'restricted'
        ? 'Restricted Mode: local only'
        : status === 'degraded'
          ? 'Local-only mode'
          : 'No valid workspace root';
  return {
    status,
    statusText,
    ...(input.url ? { url: input.url } : {}),
    sessions: sessions.sort((a, b) => b.lastActivityAt - a.lastActivityAt),
    participants: snapshot.participants.map((p) => ({
      id: p.participantId,
      label: p.label,
      ...(p.sessions.find((s) => s.worktree)?.worktree ? { worktree: p.sessions.find((s) => s.worktree)!.worktree! } : {}),
      kind: p.kind,
      pid: p.pid,
      heartbeatAgeMs: Math.max(0, Date.now() - p.heartbeatAt),
      sessionCount: p.sessions.length,
      self: p.participantId === input.selfParticipantId,
    })),
    claims: input.claims.map((c) => ({
      resource: c.resource,
      ...(c.projectRoot ? { project: c.projectRoot, projectName: path.basename(c.projectRoot) } : {}),
      ...(c.checkout ? { checkout: c.checkout } : {}),
      ...(c.holder.worktree ? { worktree: c.holder.worktree } : {}),
      ...(c.checkout && input.checkout && c.checkout !== input.checkout ? { otherWorktree: true } : {}),
      holderSessionId: c.holder.sessionId,
      holderClient: c.holder.clientName,
      ...(c.holder.agent ? { holderAgent: describeAgent(c.holder.agent) } : {}),
      automatic: c.holder.via === 'edit-guard',
      fencingToken: c.fencingToken,
      expiresAt: c.expiresAt,
    })),
    guard: {
      blocked: Number(snapshot.metrics['guard.denied'] ?? 0),
      recent: snapshot.blockedEdits.map((b) => ({
        at: b.at,
        agent: describeAgent(b.agent),
        resource: b.resource,
        holder: describeHolder(b.holder),
      })),
    },
    messages: threads(input.inboxes ?? []),
    acrossWorktrees: (snapshot.acrossWorktrees ?? []).map((o) => ({
      resource: o.resource,
      here: o.worktrees.some((w) => w.checkout === input.checkout),
      worktrees: o.worktrees.map((w) => ({ worktree: w.worktree ?? w.checkout, holder: w.holder })),
    })),
    store: {
      kind: snapshot.store.kind,
      location: snapshot.store.location,
      degraded: snapshot.store.degraded,
      ...(snapshot.store.reason ? { reason: snapshot.store.reason } : {}),
      eventLogBytes: snapshot.store.eventLogBytes,
      namespaces: snapshot.store.namespaces,
      corruptionRecoveries: recoveries,
    },
    series: input.series,
    problems,
    generatedAt: Date.now(),
  };
}
