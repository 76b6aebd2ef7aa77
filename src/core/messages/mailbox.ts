import { CoordinatorError } from '../errors.js';
import type { Metrics } from '../metrics/metrics.js';
import { holderKey } from '../store/rules/claims.js';
import type { Actor } from '../store/actors.js';
import type { SharedStore } from '../store/sharedStore.js';
import {
  acknowledge,
  ALL,
  appendMessage,
  checkDraft,
  hasUndelivered,
  inboxOf,
  markDelivered,
  MAX_SENDS_PER_MINUTE,
  newMessageId,
  PEOPLE,
  readInboxValue,
  type Draft,
  type Inbox,
  type Message,
} from './messageRules.js';

export interface MailboxDeps {
  readonly store: () => SharedStore;
  readonly metrics: Metrics;
  /** This participant's live sessions: presence elsewhere lags by up to a heartbeat. */
  readonly localActors: () => readonly Actor[];
}

/** Someone a message can go to: an inbox key, and who reads it. */
export interface Addressee {
  readonly inbox: string;
  readonly actor: Actor;
}

export interface SendResult {
  readonly thread: string;
  readonly sent: ReadonlyArray<{ id: string; to: string }>;
  /** Recipients whose inbox refused the message (full): the others have it. */
  readonly refused: ReadonlyArray<{ to: string; reason: string }>;
}

export interface InboxPage {
  readonly messages: readonly Message[];
  /** Pass back to read on after the last message returned. */
  readonly nextCursor: string;
  readonly unread: number;
}

const SEND_WINDOW_MS = 60_000;

/**
 * Messages over the shared store (R-AGT-6): who may be addressed (live agents
 * and sessions of the project, and the people), sending with the sender set
 * from its session, reading, acknowledging, and the hooks' delivery.
 */
export class Mailbox {
  private readonly sends = new Map<string, number[]>();

  constructor(private readonly deps: MailboxDeps) {
    for (const name of ['messages.sent', 'messages.delivered', 'messages.acked', 'messages.refused', 'messages.rateLimited'])
      deps.metrics.counter(name);
  }

  /** Every live agent and session on the project (here, in other participants, claim holders), by inbox. */
  async addressees(): Promise<Map<string, Addressee>> {
    const store = this.deps.store();
    const out = new Map<string, Addressee>();
    const add = (actor: Actor): void => {
      const inbox = inboxOf(actor);
      if (!out.has(inbox)) out.set(inbox, { inbox, actor });
    };
    for (const actor of this.deps.localActors()) add(actor);
    const [participants, claims] = await Promise.all([store.participants(), store.listClaims()]);
    for (const p of participants) {
      for (const s of p.sessions) {
        if (s.state === 'closed' || s.state === 'failed' || s.state === 'closing') continue;
        add({ sessionId: s.id, clientName: s.clientName, participantId: p.participantId, ...(s.agent ? { agent: s.agent } : {}) });
      }
    }
    // An agent known only by its hooks holds claims without a session: it can still be told.
    for (const c of claims) add(c.holder);
    return out;
  }

  /** The addressees `to` names: an inbox (agent key or session id), a session id, `people`, or `all` (everyone live but the sender). */
  async resolve(to: string, from: Actor): Promise<Addressee[]> {
    if (to === PEOPLE) return [{ inbox: PEOPLE, actor: { sessionId: 'person', clientName: 'people', participantId: from.participantId } }];
    // A session of this participant is found without reading presence or claims.
    const local = to === ALL ? undefined : this.deps.localActors().find((a) => inboxOf(a) === to || a.sessionId === to);
    if (local) return [{ inbox: inboxOf(local), actor: local }];
    const all = await this.addressees();
    if (to === ALL) return [...all.values()].filter((a) => a.inbox !== inboxOf(from) && a.inbox !== PEOPLE);
    const found = all.get(to) ?? [...all.values()].find((a) => a.actor.sessionId === to);
    if (found) return [found];
    const known = [...all.keys()].filter((k) => k !== PEOPLE).slice(0, 10);
    throw new CoordinatorError(
      'UnknownRecipient',
      `Nobody live on this project is ${JSON.stringify(to.slice(0, 80))}; nothing was sent. ${known.length > 0 ? `Live here: ${known.map((k) => JSON.stringify(k)).join(', ')} (an agent as kind:id, a session by its id); or` : 'Nobody else is live; address'} "people" or "all"`,
      { to, known },
    );
  }

  async send(from: Actor, to: string, draft: Draft): Promise<SendResult> {
    const checked = checkDraft(draft);
    this.checkRate(from);
    const recipients = await this.resolve(to, from);
    if (recipients.length === 0)
      throw new CoordinatorError('UnknownRecipient', 'Nobody else is live on this project; nothing was sent', { to });
    const firstId = newMessageId();
    const thread = checked.thread ?? firstId;
    const sent: Array<{ id: string; to: string }> = [];
    const refused: Array<{ to: string; reason: string }> = [];
    const store = this.deps.store();
    for (const [i, r] of recipients.entries()) {
      const id = i === 0 ? firstId : newMessageId();
      const now = Date.now();
      const message: Omit<Message, 'seq'> = {
        id,
        from,
        replyTo: inboxOf(from),
        to,
        subject: checked.subject,
        body: checked.body,
        thread,
        sentAt: now,
      };
      try {
        await store.updateInbox(r.inbox, (current) => appendMessage(readInboxValue(current?.value), message, r.inbox, now), from);
        sent.push({ id, to: r.inbox });
      } catch (e) {
        if (!(e instanceof CoordinatorError) || recipients.length === 1) throw e;
        refused.push({ to: r.inbox, reason: e.message });
      }
    }
    this.deps.metrics.counter('messages.sent').inc(sent.length);
    this.deps.metrics.counter('messages.refused').inc(refused.length);
    return { thread, sent, refused };
  }

  async read(inbox: string, options: { cursor?: string; unreadOnly?: boolean; limit?: number } = {}): Promise<InboxPage> {
    const after = options.cursor === undefined ? 0 : Number(options.cursor);
    if (!Number.isSafeInteger(after) || after < 0)
      throw new CoordinatorError(
        'InvalidArgument',
        'That inbox cursor is not one this coordinator issued; pass the nextCursor of a previous page, or none',
        {},
      );
    const value = await this.inboxValue(inbox);
    const limit = Math.min(Math.max(options.limit ?? 50, 1), 100);
    const messages = value.messages.filter((m) => m.seq > after && (!options.unreadOnly || m.readAt === undefined)).slice(0, limit);
    return {
      messages,
      nextCursor: String(messages.at(-1)?.seq ?? after),
      unread: value.messages.filter((m) => m.readAt === undefined).length,
    };
  }

  async ack(inbox: string, ids: readonly string[], by: Actor): Promise<string[]> {
    if (ids.length === 0) return [];
    let acked: string[] = [];
    if (!(await this.deps.store().readInbox(inbox))) return [];
    await this.deps.store().updateInbox(
      inbox,
      (current) => {
        const result = acknowledge(readInboxValue(current?.value), ids, Date.now());
        acked = result.acked;
        return result.inbox;
      },
      by,
    );
    this.deps.metrics.counter('messages.acked').inc(acked.length);
    return acked;
  }

  /** The messages a hook puts into the model's context now: each once, marked delivered as it is taken. */
  async takeUndelivered(inbox: string, by: Actor): Promise<Message[]> {
    // Every tool call of every hooked agent asks: one read, and a write only when there is news.
    if (!hasUndelivered(await this.inboxValue(inbox))) return [];
    let delivered: Message[] = [];
    await this.deps.store().updateInbox(
      inbox,
      (current) => {
        const result = markDelivered(readInboxValue(current?.value), Date.now());
        delivered = result.delivered;
        return result.inbox;
      },
      by,
    );
    this.deps.metrics.counter('messages.delivered').inc(delivered.length);
    return delivered;
  }

  private async inboxValue(inbox: string): Promise<Inbox> {
    return readInboxValue((await this.deps.store().readInbox(inbox))?.value);
  }

  /** Every well-formed attempt counts, found recipient or not: a loop sending to nobody costs reads too. */
  private checkRate(from: Actor): void {
    const key = holderKey(from);
    const now = Date.now();
    const recent = (this.sends.get(key) ?? []).filter((t) => now - t < SEND_WINDOW_MS);
    if (recent.length >= MAX_SENDS_PER_MINUTE) {
      this.deps.metrics.counter('messages.rateLimited').inc();
      this.sends.set(key, recent);
      const wait = Math.ceil((SEND_WINDOW_MS - (now - recent[0]!)) / 1000);
      throw new CoordinatorError(
        'RateLimited',
        `You tried to send ${recent.length} messages in the last minute, the most one sender may; nothing was sent. Try again in ${wait} s`,
        { limit: MAX_SENDS_PER_MINUTE, retryAfterSeconds: wait },
      );
    }
    recent.push(now);
    this.sends.set(key, recent);
    // Senders come and go: forget those with nothing in the window.
    if (this.sends.size > 1000)
      for (const [k, times] of this.sends) if (times.every((t) => now - t >= SEND_WINDOW_MS)) this.sends.delete(k);
  }
}
