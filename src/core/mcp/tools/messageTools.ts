import { z } from 'zod';
import { inboxOf, MAX_SUBJECT_CHARS, type Message } from '../../messages/messageRules.js';
import { actor } from './actorSchema.js';
import { tool } from './toolTable.js';

export const INBOX_URI = 'inbox://me';

const to = z
  .string()
  .min(1)
  .max(256)
  .describe(
    'An agent (as claim_list and denied edits name it, e.g. "claude-code:<id>"), a session id, "people" (the humans at the windows) or "all" (everyone live on the project)',
  );
const message = z.object({
  id: z.string(),
  seq: z.number(),
  from: actor,
  replyTo: z.string().describe('Pass as `to` to answer'),
  to: z.string(),
  subject: z.string(),
  body: z.string(),
  thread: z.string(),
  sentAt: z.string(),
  delivered: z.boolean().describe('Already put into your context by a hook'),
  read: z.boolean(),
});

// Built once per process: zod clones on every refinement, and this runs for every connection otherwise.
const schemas = {
  send: {
    input: z.object({
      to,
      subject: z.string().max(MAX_SUBJECT_CHARS).optional().describe('One line'),
      body: z
        .string()
        .min(1)
        .max(64 * 1024)
        .describe('The message (at most 4 KiB); put long text in the shared context and send its key'),
      thread: z.string().max(64).optional().describe('The thread of the message you answer; omit to start one'),
    }),
    output: z.object({
      thread: z.string(),
      sent: z.array(z.object({ id: z.string(), to: z.string() })),
      refused: z.array(z.object({ to: z.string(), reason: z.string() })),
    }),
  },
  inbox: {
    input: z.object({
      cursor: z.string().max(32).optional().describe('nextCursor of a previous page; omit to start from the oldest'),
      unreadOnly: z.boolean().optional(),
      limit: z.number().int().min(1).max(100).optional(),
    }),
    output: z.object({ inbox: z.string(), messages: z.array(message), nextCursor: z.string(), unread: z.number() }),
  },
  ack: { input: z.object({ ids: z.array(z.string().max(32)).min(1).max(100) }), output: z.object({ acked: z.array(z.string()) }) },
};

export function messageView(m: Message): z.infer<typeof message> {
  // The times become flags: a field the output schema does not declare makes the SDK client refuse the whole result.
  const { deliveredAt, readAt, ...rest } = m;
  return { ...rest, sentAt: new Date(m.sentAt).toISOString(), delivered: deliveredAt !== undefined, read: readAt !== undefined };
}

/** message_send/inbox/ack: messages between the project's agents and people (R-AGT-6). */
export const messageTools = [
  tool({
    name: 'message_send',
    title: 'Send a message',
    description:
      'Sends a message to another agent or session on this project, to "people" or to "all". An agent with hooks installed sees it on its next tool call; others read message_inbox or subscribe to inbox://me. Use it to ask a claim holder for a file (it can claim_transfer it to you).',
    ...schemas.send,
    run: async (args, { ctx }) => {
      const result = await ctx.coordinator.messages.send(ctx.actor(), args.to, {
        subject: args.subject ?? '',
        body: args.body,
        ...(args.thread ? { thread: args.thread } : {}),
      });
      return { thread: result.thread, sent: [...result.sent], refused: [...result.refused] };
    },
  }),
  tool({
    name: 'message_inbox',
    title: 'Read your messages',
    description:
      'Your messages, oldest first, with who sent them and the thread; pass nextCursor back to read on. Reading does not mark them read: message_ack does.',
    ...schemas.inbox,
    annotations: { readOnlyHint: true },
    run: async (args, { ctx }) => {
      const inbox = inboxOf(ctx.actor());
      const page = await ctx.coordinator.messages.read(inbox, {
        ...(args.cursor !== undefined ? { cursor: args.cursor } : {}),
        ...(args.unreadOnly !== undefined ? { unreadOnly: args.unreadOnly } : {}),
        ...(args.limit ? { limit: args.limit } : {}),
      });
      return { inbox, messages: page.messages.map(messageView), nextCursor: page.nextCursor, unread: page.unread };
    },
  }),
  tool({
    name: 'message_ack',
    title: 'Mark messages read',
    description: 'Marks messages of your inbox read; unknown or already read ids are ignored.',
    ...schemas.ack,
    run: async (args, { ctx }) => {
      const actor = ctx.actor();
      return { acked: await ctx.coordinator.messages.ack(inboxOf(actor), args.ids, actor) };
    },
  }),
];
