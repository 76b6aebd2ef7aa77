import * as os from 'node:os';
import type { Redis } from 'ioredis';
import { isAlive } from '../../install/installState.js';
import type { Logger } from '../../logging/logger.js';
import type { Metrics } from '../../metrics/metrics.js';
import { participantEntry, readParticipant } from '../participantEntry.js';
import type { HolderFilter, ParticipantDescription, ParticipantInfo, ParticipantSession } from '../actors.js';
import { PRESENCE_NOTE, type Keys } from './wireFormat.js';

export interface RedisPresenceDeps {
  readonly participantId: string;
  readonly participant: ParticipantDescription;
  /** A presence key lives this long without a beat. */
  readonly goneAfterMs: number;
  readonly main: Redis;
  readonly keys: Keys;
  readonly connected: () => boolean;
  /** One exchange with Redis, refused at once while it is away (the store's error translation). */
  readonly run: <T>(what: string, work: () => Promise<T>) => Promise<T>;
  readonly releaseClaimsOf: (holder: HolderFilter) => Promise<number>;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Presence on Redis (R-CTX-7): each participant's record under a key with an
 * expiry (present while it exists) and in a hash of known participants (who
 * the sweepers look after). A participant gone (its key expired, or a dead pid
 * on this machine) is removed, and its claims released, by whoever notices first.
 */
export class RedisPresence {
  private readonly startedAt = Date.now();
  private lastSessions: readonly ParticipantSession[] = [];
  private lastPublishedSessions: string | undefined;
  /** What participants() answers from while Redis is away. */
  private lastParticipants: ParticipantInfo[] = [];

  constructor(private readonly deps: RedisPresenceDeps) {}

  /** The background beat: our record again, then the sweep. */
  async beat(): Promise<void> {
    await this.heartbeat(this.lastSessions);
    await this.sweep();
  }

  async heartbeat(sessions: readonly ParticipantSession[]): Promise<void> {
    const { deps } = this;
    this.lastSessions = sessions;
    const json = JSON.stringify(participantEntry(deps.participantId, deps.participant, this.startedAt, sessions));
    const sessionsJson = JSON.stringify(sessions);
    const announce = sessionsJson !== this.lastPublishedSessions;
    await deps.run('presence', async () => {
      const tx = deps.main
        .multi()
        .set(deps.keys.presence(deps.participantId), json, 'PX', deps.goneAfterMs)
        .hset(deps.keys.participants, deps.participantId, json);
      if (announce) tx.publish(deps.keys.channel, PRESENCE_NOTE);
      const results = await tx.exec();
      const failed = results?.find(([e]) => e);
      if (!results || failed) throw failed?.[0] ?? new Error('the presence transaction was discarded');
    });
    if (announce) this.lastPublishedSessions = sessionsJson;
  }

  /** Live participants: those whose presence key has not expired (and, on this machine, whose pid is alive). */
  async participants(): Promise<ParticipantInfo[]> {
    const { deps } = this;
    if (!deps.connected()) return this.lastParticipants;
    try {
      const ids = await deps.main.hkeys(deps.keys.participants);
      const values = ids.length ? await deps.main.mget(ids.map((id) => deps.keys.presence(id))) : [];
      const out: ParticipantInfo[] = [];
      for (const [i, v] of values.entries()) {
        if (v === null || v === undefined) continue;
        // Any token holder can write a key: a value that is not a presence record of that id is nobody (R-SEC-3).
        const p = readParticipant(ids[i]!, parseJson(v));
        if (p && !diedHere(p)) out.push(p);
      }
      this.lastParticipants = out;
      return out;
    } catch {
      // Answered from the last reading: status() says the store is degraded.
      return this.lastParticipants;
    }
  }

  /** Gone participants (presence key expired, or a dead pid on this machine): removed, and their claims released, by whoever notices first. */
  async sweep(): Promise<void> {
    const { deps } = this;
    if (!deps.connected()) return;
    const known = await deps.main.hgetall(deps.keys.participants);
    const ids = Object.keys(known).filter((id) => id !== deps.participantId);
    if (!ids.length) return;
    const live = await deps.main.mget(ids.map((id) => deps.keys.presence(id)));
    for (const [i, id] of ids.entries()) {
      const current = live[i];
      const last = readParticipant(id, parseJson(current ?? known[id]!));
      // Unreadable while its key lives: not ours to judge; its key's expiry will say when it is gone.
      if (current !== null && current !== undefined && (!last || !diedHere(last))) continue;
      // HDEL answers 1 to one sweeper only: that one releases the claims.
      if ((await deps.main.hdel(deps.keys.participants, id)) !== 1) continue;
      await deps.main.del(deps.keys.presence(id));
      const released = await deps.releaseClaimsOf({ participantId: id });
      await deps.main.publish(deps.keys.channel, PRESENCE_NOTE);
      deps.metrics.counter('presence.gone').inc();
      deps.logger.info(
        `Participant ${last ? `${last.label} (pid ${last.pid} on ${last.host})` : id} is gone; released ${released} claim(s)`,
      );
    }
  }
}

/** Same machine: a dead pid is gone at once, without waiting for its key to expire. */
function diedHere(p: ParticipantInfo): boolean {
  return p.host === os.hostname() && p.pid !== process.pid && !isAlive(p.pid);
}
