import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCoordinatorError } from '../../../src/core/errors.js';
import {
  acknowledge,
  appendMessage,
  checkDraft,
  markDelivered,
  MAX_INBOX_MESSAGES,
  MAX_MESSAGE_AGE_MS,
  MAX_READ_KEPT,
  readInboxValue,
  type Inbox,
  type Message,
} from '../../../src/core/messages/messageRules.js';

// The inbox's bounds (R-AGT-6, R-SEC-1) as pure rules: every backend stores what these return.

const from = { sessionId: 's-a', clientName: 'a', participantId: 'p' };
const draft = (id: string, sentAt: number): Omit<Message, 'seq'> => ({
  id,
  from,
  replyTo: 's-a',
  to: 's-b',
  subject: '',
  body: id,
  thread: id,
  sentAt,
});

function fill(count: number, now: number): Inbox {
  let inbox = readInboxValue(undefined);
  for (let i = 0; i < count; i++) inbox = appendMessage(inbox, draft(`m${i}`, now + i), 's-b', now + i);
  return inbox;
}

test('R-AGT-6, R-SEC-1: a full inbox of unread messages refuses the next one and keeps what the recipient has not seen; read ones make room, oldest first', () => {
  const now = Date.now();
  const full = fill(MAX_INBOX_MESSAGES, now);
  assert.throws(
    () => appendMessage(full, draft('late', now + 1000), 's-b', now + 1000),
    (e: unknown) => isCoordinatorError(e, 'QuotaExceeded') && /holds 100 unread messages/.test(e.message),
  );
  const read = acknowledge(full, ['m3', 'm7'], now + 1000).inbox;
  const next = appendMessage(read, draft('late', now + 1000), 's-b', now + 1000);
  assert.equal(next.messages.length, MAX_INBOX_MESSAGES);
  assert.ok(!next.messages.some((m) => m.id === 'm3'), 'the oldest read message made room');
  assert.ok(
    next.messages.some((m) => m.id === 'm7'),
    'only as many as needed',
  );
  assert.equal(next.messages.at(-1)?.seq, MAX_INBOX_MESSAGES + 1, 'seq keeps counting');
});

test('R-AGT-6: an inbox keeps only the last few read messages, so the value rewritten on each send stays small; unread ones all stay', () => {
  const now = Date.now();
  const inbox = fill(40, now);
  const allRead = acknowledge(
    inbox,
    inbox.messages.slice(0, 30).map((m) => m.id),
    now,
  ).inbox;
  const next = appendMessage(allRead, draft('new', now + 100), 's-b', now + 100);
  assert.equal(next.messages.filter((m) => m.readAt !== undefined).length, MAX_READ_KEPT);
  assert.deepEqual(
    next.messages.filter((m) => m.readAt !== undefined).map((m) => m.id),
    Array.from({ length: MAX_READ_KEPT }, (_, i) => `m${30 - MAX_READ_KEPT + i}`),
    'the newest read ones',
  );
  assert.equal(next.messages.filter((m) => m.readAt === undefined).length, 11, 'every unread message, and the new one');
});

test('R-AGT-6: messages older than the age bound are dropped on the next write; delivery marks each once; ack ignores unknown ids', () => {
  const now = Date.now();
  const old = appendMessage(readInboxValue(undefined), draft('old', now - MAX_MESSAGE_AGE_MS - 1), 's-b', now - MAX_MESSAGE_AGE_MS - 1);
  const fresh = appendMessage(old, draft('new', now), 's-b', now);
  assert.deepEqual(
    fresh.messages.map((m) => m.id),
    ['new'],
  );
  const first = markDelivered(fresh, now);
  assert.deepEqual(
    first.delivered.map((m) => m.id),
    ['new'],
  );
  assert.deepEqual(markDelivered(first.inbox, now + 1).delivered, [], 'once');
  assert.deepEqual(acknowledge(first.inbox, ['nope', 'new'], now).acked, ['new']);
});

test('R-AGT-6: a draft is checked: a body is required and bounded, the subject is one printable line, a thread is a short id', () => {
  assert.throws(() => checkDraft({ subject: '', body: '  ' }), /needs a body/);
  assert.throws(
    () => checkDraft({ subject: '', body: 'é'.repeat(2049) }),
    (e: unknown) => isCoordinatorError(e, 'ValueTooLarge') && /4098 bytes; the limit is 4096/.test(e.message),
  );
  assert.equal(checkDraft({ subject: 'a\nb\u202e', body: 'x' }).subject, 'a\uFFFDb\uFFFD');
  assert.throws(() => checkDraft({ subject: '', body: 'x', thread: 'a b' }), /thread must be/);
});
