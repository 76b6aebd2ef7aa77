import type { Actor, ControlRequest } from '../actors.js';
import type { ChangeEvent, StoredValue } from '../sharedStore.js';

/**
 * What the Redis store keeps and sends, as bytes: its key names, the entry
 * format of the `kv:<ns>` hashes, and the pub/sub notifications. The Lua
 * scripts (scripts.ts) write the same formats; this is the TypeScript side's
 * only copy of them (as file/walFormat.ts is the file store's).
 */

/**
 * Every key of a project shares one hash tag, `{<projectId>}`, so the
 * multi-key scripts are valid on a Redis Cluster too (one slot per project).
 */
export class Keys {
  readonly prefix: string;
  constructor(projectId: string) {
    this.prefix = `sc:{${projectId}}:`;
  }
  /** HASH key -> entry (version, flag, at, by, value); tombstones kept. */
  kv(ns: string): string {
    return `${this.prefix}kv:${ns}`;
  }
  /** STREAM of change records, ID `<seq>-0`, one field `c` (the ChangeEvent JSON). */
  log(ns: string): string {
    return `${this.prefix}log:${ns}`;
  }
  /** HASH `seq:<ns>` (last seq), `live:<ns>` (live keys), `bytes:<ns>` (record bytes in the log). */
  get meta(): string {
    return `${this.prefix}meta`;
  }
  /** SET of namespaces ever written. */
  get namespaces(): string {
    return `${this.prefix}namespaces`;
  }
  /** HASH resource -> claim JSON. */
  get claims(): string {
    return `${this.prefix}claims`;
  }
  /** HASH resource -> version counter: the fencing tokens, never reset. */
  get claimVersions(): string {
    return `${this.prefix}claimver`;
  }
  /** HASH participantId -> last Participant JSON: who the sweepers look after. */
  get participants(): string {
    return `${this.prefix}participants`;
  }
  /** STRING Participant JSON with an expiry: present while it exists. */
  presence(participantId: string): string {
    return `${this.prefix}presence:${participantId}`;
  }
  /** Pub/sub: 'c'+change JSON of the `_` namespaces (inboxes, control), 'l' claims, 'p' presence, 'x'+control JSON. */
  get channel(): string {
    return `${this.prefix}events`;
  }
  /**
   * Pub/sub of one context namespace's changes ('c'+change JSON): heard only
   * by participants that watch it, so a write costs nobody else a message
   * they would drop (issue 11: with 4 writers on one channel, 0.25 of each
   * writer's 0.67 ms CPU per write went on the others' messages).
   */
  changes(ns: string): string {
    return `${this.prefix}events:${ns}`;
  }
  /** PSUBSCRIBE pattern of every context namespace's channel: the project id's glob characters escaped. */
  get allChanges(): string {
    return `${this.prefix.replace(/[*?[\]\\]/g, '\\$&')}events:*`;
  }
  /** Where a change of `ns` is published: the `_` namespaces on the channel everyone hears. */
  changeChannel(ns: string): string {
    return ns.startsWith('_') ? this.channel : this.changes(ns);
  }
}

export interface ParsedEntry {
  version: number;
  deleted: boolean;
  at: number;
  by: Actor;
  valueJson: string;
}

export function parseEntry(raw: string): ParsedEntry {
  const a = raw.indexOf('\n');
  const b = raw.indexOf('\n', a + 3);
  const c = raw.indexOf('\n', b + 1);
  return {
    version: Number(raw.slice(0, a)),
    deleted: raw[a + 1] === 'd',
    at: Number(raw.slice(a + 3, b)),
    by: JSON.parse(raw.slice(b + 1, c)) as Actor,
    valueJson: raw.slice(c + 1),
  };
}

export function toStored(e: ParsedEntry): StoredValue | undefined {
  return e.deleted ? undefined : { value: JSON.parse(e.valueJson) as unknown, version: e.version, updatedAt: e.at, updatedBy: e.by };
}

/** A pub/sub notification on the project's channel. */
export type Notification =
  { kind: 'change'; change: ChangeEvent } | { kind: 'claims' } | { kind: 'presence' } | { kind: 'control'; request: ControlRequest };

/** The presence notification: someone came, went or changed its sessions. */
export const PRESENCE_NOTE = 'p';

/** 'c' + change JSON (written by the write script), 'l' claims (the claim scripts), 'p' presence, 'x' + control JSON. */
export function encodeNotification(note: Notification): string {
  switch (note.kind) {
    case 'change':
      return 'c' + JSON.stringify(note.change);
    case 'claims':
      return 'l';
    case 'presence':
      return PRESENCE_NOTE;
    case 'control':
      return 'x' + JSON.stringify(note.request);
  }
}

/** The notification a message carries; undefined for a kind this version does not know. Throws on malformed JSON. */
export function decodeNotification(message: string): Notification | undefined {
  switch (message[0]) {
    case 'c':
      return { kind: 'change', change: JSON.parse(message.slice(1)) as ChangeEvent };
    case 'l':
      return { kind: 'claims' };
    case 'p':
      return { kind: 'presence' };
    case 'x':
      return { kind: 'control', request: JSON.parse(message.slice(1)) as ControlRequest };
    default:
      return undefined;
  }
}
