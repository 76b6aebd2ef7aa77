import * as os from 'node:os';
import { agentKey } from '../agents/agentIdentity.js';
import type { Claim, HolderFilter, Participant, ParticipantSession } from './sharedStore.js';

/** What a participant says about itself in presence, the same for every backend. */
export function participantEntry(
  participantId: string,
  participant: { kind: 'window' | 'headless'; label: string; url?: string },
  startedAt: number,
  sessions: readonly ParticipantSession[],
): Participant {
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
