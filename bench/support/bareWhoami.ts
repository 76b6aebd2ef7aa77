// The baseline's whoami: a plain McpServer with a tool of the same name, the
// very zod input/output schemas ours uses, and a structuredContent of the same
// shape and size (one peer entry per other live session, one participant: this
// process), returned the way ours does (text = JSON of the structured value).
// No coordinator, no Connection wrapper. The bench still compares both
// tools/list schemas and structuredContent keys at run time.
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { schemas } from '../../src/core/mcp/tools/sessionTools.js';

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
export function createBareServer(
  root: string,
  transport: string,
  self: () => BareSession | undefined,
  all: () => Iterable<BareSession>,
): McpServer {
  const server = new McpServer({ name: 'bare-sdk-server', version: '0.0.0' });
  const clientOf = (s: BareSession): { name: string; version: string } => {
    const info = s.server.server.getClientVersion();
    return { name: info?.name ?? 'unknown', version: info?.version ?? '0' };
  };
  server.registerTool(
    'whoami',
    {
      title: 'Who am I',
      description:
        'Returns this session: its id, resume handle, project root, client, transport, tags, and the other sessions (peers) known to this coordinator.',
      inputSchema: schemas.whoami.input,
      outputSchema: schemas.whoami.output,
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
        store: { kind: 'file', location: root, degraded: false },
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
