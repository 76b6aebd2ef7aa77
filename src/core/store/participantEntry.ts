import * as os from 'node:os';
import type { Claim, Participant, ParticipantSession } from './sharedStore.js';

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
export function isHeldBy(claim: Claim, holder: { sessionId?: string; participantId?: string }): boolean {
  return (holder.sessionId !== undefined && claim.holder.sessionId === holder.sessionId) || (holder.participantId !== undefined && claim.holder.participantId === holder.participantId);
}
