import * as os from 'node:os';
import { agentKey, isAgentIdentity } from '../agents/agentIdentity.js';
import { label } from '../logging/printable.js';
import type { Claim, HolderFilter, ParticipantDescription, ParticipantInfo, ParticipantSession } from './actors.js';

/** What a participant says about itself in presence, the same for every backend. */
export function participantEntry(
  participantId: string,
  participant: ParticipantDescription,
  startedAt: number,
  sessions: readonly ParticipantSession[],
): ParticipantInfo {
  return {
    participantId,
    pid: process.pid,
    host: os.hostname(),
    kind: participant.kind,
    label: participant.label,
    startedAt,
    heartbeatAt: Date.now(),
    ...(participant.url ? { url: participant.url } : {}),
    sessions,
  };
}

/** A claim belongs to a session that ended, or to a participant that is gone. */
export function isHeldBy(claim: Claim, holder: HolderFilter): boolean {
  const h = claim.holder;
  return (
    (holder.sessionId !== undefined && h.sessionId === holder.sessionId) ||
    (holder.participantId !== undefined && h.participantId === holder.participantId) ||
    (holder.agentKey !== undefined && h.agent !== undefined && agentKey(h.agent) === holder.agentKey)
  );
}

/** What a participant id may be: ours are `<host>-<pid>-<hex>`; a presence file's name is its id (R-SEC-3). */
export const PARTICIPANT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const text = (v: unknown, max = 4096): v is string => typeof v === 'string' && v.length <= max;

/**
 * A presence record read from a place anyone can write (a file in a cloned
 * repository, a key on a shared server): the record when it is one and names
 * itself `id`, else undefined. Never trusted for more than it says.
 */
export function readParticipant(id: string, raw: unknown): ParticipantInfo | undefined {
  if (!PARTICIPANT_ID.test(id) || typeof raw !== 'object' || raw === null) return undefined;
  const p = raw as Record<string, unknown>;
  if (p.participantId !== id || !Number.isSafeInteger(p.pid) || (p.pid as number) <= 0 || !text(p.host, 255)) return undefined;
  if ((p.kind !== 'window' && p.kind !== 'headless') || !finite(p.startedAt) || !finite(p.heartbeatAt) || !Array.isArray(p.sessions))
    return undefined;
  if (p.url !== undefined && !text(p.url, 2048)) return undefined;
  const sessions: ParticipantSession[] = [];
  for (const s of p.sessions.slice(0, 1000) as Array<Record<string, unknown>>) {
    if (
      typeof s !== 'object' ||
      s === null ||
      !text(s.id, 200) ||
      !text(s.transport, 32) ||
      !text(s.state, 32) ||
      !text(s.root) ||
      !finite(s.requestCount) ||
      !finite(s.lastActivityAt)
    )
      continue;
    sessions.push({
      id: s.id,
      clientName: label(s.clientName, 'unknown'),
      ...(text(s.worktree, 512) ? { worktree: label(s.worktree, '') } : {}),
      ...(isAgentIdentity(s.agent) ? { agent: s.agent } : {}),
      transport: s.transport,
      state: s.state,
      root: s.root,
      tags: Array.isArray(s.tags) ? s.tags.filter((t): t is string => text(t, 64)).slice(0, 16) : [],
      requestCount: s.requestCount,
      lastActivityAt: s.lastActivityAt,
    });
  }
  return {
    participantId: id,
    pid: p.pid as number,
    host: p.host,
    kind: p.kind,
    label: label(p.label, 'participant'),
    startedAt: p.startedAt,
    heartbeatAt: p.heartbeatAt,
    ...(p.url !== undefined ? { url: p.url } : {}),
    sessions,
  };
}
