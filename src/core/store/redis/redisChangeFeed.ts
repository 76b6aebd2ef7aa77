import type { Redis } from 'ioredis';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../logging/logger.js';
import type { Metrics } from '../../metrics/metrics.js';
import { MESSAGES_NAMESPACE } from '../rules/decisions.js';
import type { ChangeEvent, StoreEvent } from '../sharedStore.js';
import { decodeNotification, type Keys, type Notification } from './wireFormat.js';

export interface RedisChangeFeedDeps {
  readonly participantId: string;
  readonly main: Redis;
  readonly keys: Keys;
  readonly emit: (event: StoreEvent) => void;
  /** Whether this participant wants a namespace's changes now (the `_` ones always, a context one while watched). */
  readonly wants: (ns: string) => boolean;
  readonly disposed: () => boolean;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

/**
 * The changes other participants make, as this participant hears them
 * (R-CTX-6): pub/sub notifications, in seq order per namespace and each
 * once; a gap (messages missed while a connection was down) is filled from
 * the namespace's stream before anything after it is delivered. Only the
 * namespaces it wants: a context namespace nobody here watches is not
 * subscribed, and its changes are read from the stream once it is watched.
 */
export class RedisChangeFeed {
  /** Last seq delivered per namespace: pub/sub messages and catch-up reads are deduplicated and ordered by it. */
  private readonly lastSeen = new Map<string, number>();
  /** Messages that arrive before the first read of the seqs: delivered once it is done. */
  private pending: ChangeEvent[] | undefined = [];
  private catchingUp: Promise<void> | undefined;
  private catchUpAgain = false;

  constructor(private readonly deps: RedisChangeFeedDeps) {}

  /** The first connection: where each namespace's log stands (the meta hash's `seq:<ns>`); what arrived meanwhile is delivered now. */
  begin(meta: Record<string, string>): void {
    for (const [field, value] of Object.entries(meta)) if (field.startsWith('seq:')) this.lastSeen.set(field.slice(4), Number(value));
    const buffered = this.pending ?? [];
    this.pending = undefined;
    for (const c of buffered) this.deliver(c, true);
  }

  onMessage(message: string): void {
    if (this.deps.disposed()) return;
    let note: Notification | undefined;
    try {
      note = decodeNotification(message);
    } catch (e) {
      this.deps.logger.warn(`Ignored a malformed store notification: ${errorMessage(e)}`);
      return;
    }
    if (note?.kind === 'change') {
      this.deps.metrics.counter('store.redis.changesHeard').inc();
      this.deliver(note.change, true);
    } else if (note) this.deps.emit(note);
  }

  /** Reads what pub/sub may have missed, from every namespace's stream (after a reconnect, or a gap). */
  catchUp(): Promise<void> {
    if (this.catchingUp) {
      this.catchUpAgain = true;
      return this.catchingUp;
    }
    const { main, keys } = this.deps;
    this.catchingUp = (async () => {
      try {
        do {
          this.catchUpAgain = false;
          for (const ns of (await main.smembers(keys.namespaces)).filter(this.deps.wants)) {
            for (;;) {
              const after = this.lastSeen.get(ns) ?? 0;
              const records = await main.xrange(keys.log(ns), `${after + 1}-0`, '+', 'COUNT', 500);
              for (const [, fields] of records) this.deliver(JSON.parse(fields[1]!) as ChangeEvent, false);
              this.deps.metrics.counter('store.redis.caughtUp').inc(records.length);
              if (records.length < 500) break;
            }
          }
        } while (this.catchUpAgain);
      } catch (e) {
        // Redis went away again: the next reconnect catches up.
        this.deps.logger.debug(`Catching up with Redis: ${errorMessage(e)}`);
      }
    })().finally(() => (this.catchingUp = undefined));
    return this.catchingUp;
  }

  /** In seq order per namespace, each change once: a gap (missed messages) is filled from the stream first. */
  private deliver(change: ChangeEvent, live: boolean): void {
    if (this.pending) {
      this.pending.push(change);
      return;
    }
    // A message of a namespace just unwatched: it is read from the stream if it is watched again.
    if (!this.deps.wants(change.namespace)) return;
    const last = this.lastSeen.get(change.namespace) ?? 0;
    if (change.seq <= last) return;
    if (live && change.seq !== last + 1) {
      void this.catchUp();
      return;
    }
    this.lastSeen.set(change.namespace, change.seq);
    if (live && change.by.participantId !== this.deps.participantId)
      this.deps.metrics.histogram('store.propagationMs').record(Math.max(0, Date.now() - change.at));
    this.deps.emit(change.namespace === MESSAGES_NAMESPACE ? { kind: 'inbox', inbox: change.key } : { kind: 'change', change });
  }
}
