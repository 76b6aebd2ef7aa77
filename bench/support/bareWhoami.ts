// The baseline's whoami: a plain McpServer with a tool of the same name, the
// same zod input/output schemas (copied from src/core/mcp/tools/sessionTools.ts,
// which does not export them) and a structuredContent of the same shape and
// size (one peer entry per other live session, one participant: this process),
// returned the way ours does
// (text = JSON of the structured value). No coordinator, no Connection wrapper.
// Keep in step with whoami there: the bench compares both tools/list schemas
// and the structuredContent keys at run time and says DIFFERENT when they drift.
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';

const client = z.object({ name: z.string(), version: z.string() });
const peer = z.object({
  sessionId: z.string(),
  client,
  transport: z.string(),
  state: z.string(),
  root: z.string(),
  tags: z.array(z.string()),
  parentId: z.string().optional(),
});

const whoamiOutput = {
  sessionId: z.string(),
  resumeHandle: z.string().optional().describe('Present this to session_resume after a reconnect to get this session back'),
  root: z.string(),
  refusedRoots: z.array(z.object({ uri: z.string(), reason: z.string() })).describe('Roots you declared that are outside the workspace'),
  client,
  transport: z.string(),
  state: z.string(),
  tags: z.array(z.string()),
  parentId: z.string().optional(),
  childIds: z.array(z.string()),
  requestCount: z.number(),
  isDefault: z.boolean(),
  pid: z.number(),
  peers: z.array(peer),
  participants: z.array(
    z.object({ participantId: z.string(), kind: z.string(), label: z.string(), pid: z.number(), host: z.string(), sessions: z.array(z.object({ id: z.string(), clientName: z.string(), transport: z.string(), state: z.string() })) }),
  ).describe('Every live window and headless process on this project, with its sessions'),
};

const participantId = `${os.hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;

/** What a bare server keeps per session so whoami can answer: its id, a handle, its server (for clientInfo). */
export interface BareSession {
  id: string;
  resumeHandle: string;
  server: McpServer;
  requestCount: number;
}

export function newBareSession(id: string, server: McpServer): BareSession {
  return { id, resumeHandle: randomBytes(24).toString('base64url'), server, requestCount: 0 };
}

/** A plain McpServer with only whoami; `self` and `all` give it the data to fill the same shape. */
export function createBareServer(root: string, transport: string, self: () => BareSession | undefined, all: () => Iterable<BareSession>): McpServer {
  const server = new McpServer({ name: 'bare-sdk-server', version: '0.0.0' });
  const clientOf = (s: BareSession): { name: string; version: string } => {
    const info = s.server.server.getClientVersion();
    return { name: info?.name ?? 'unknown', version: info?.version ?? '0' };
  };
  server.registerTool(
    'whoami',
    {
      title: 'Who am I',
      description: 'Returns this session: its id, resume handle, project root, client, transport, tags, and the other sessions (peers) known to this coordinator.',
      inputSchema: {},
      outputSchema: whoamiOutput,
      annotations: { readOnlyHint: true },
    },
    async () => {
      const me = self();
      if (me) me.requestCount++;
      const peers = [...all()]
        .filter((s) => s !== me)
        .map((s) => ({ sessionId: s.id, client: clientOf(s), transport, state: 'active', root, tags: [] as string[] }));
      const value = {
        sessionId: me?.id ?? 'default',
        ...(me ? { resumeHandle: me.resumeHandle } : {}),
        root,
        refusedRoots: [] as Array<{ uri: string; reason: string }>,
        client: me ? clientOf(me) : { name: 'unknown', version: '0' },
        transport,
        state: me ? 'active' : 'none',
        tags: [] as string[],
        childIds: [] as string[],
        requestCount: me?.requestCount ?? 0,
        isDefault: !me,
        pid: process.pid,
        peers,
        // This process as the one participant, from memory (ours reads the shared store's presence files).
        participants: [
          {
            participantId,
            kind: 'headless',
            label: `headless pid ${process.pid}`,
            pid: process.pid,
            host: os.hostname(),
            sessions: [...all()].map((s) => ({ id: s.id, clientName: clientOf(s).name, transport, state: 'active' })),
          },
        ],
      };
      return { content: [{ type: 'text' as const, text: JSON.stringify(value) }], structuredContent: value };
    },
  );
  return server;
}
