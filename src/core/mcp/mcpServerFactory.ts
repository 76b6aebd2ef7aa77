import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SubscribeRequestSchema, UnsubscribeRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { DeclaredRoots } from './declaredRoots.js';
import { claimTools } from './tools/claimTools.js';
import { contextTools } from './tools/contextTools.js';
import { INBOX_URI, messageTools, messageView } from './tools/messageTools.js';
import { inboxOf } from '../messages/messageRules.js';
import { sessionTools } from './tools/sessionTools.js';
import type { ToolContext } from './tools/toolContext.js';
import { registerTools } from './tools/toolTable.js';

export const SERVER_NAME = 'session-coordinator';
export const SERVER_VERSION = '0.1.0';

export const SESSIONS_URI = 'coordinator://sessions';
export const CLAIMS_URI = 'coordinator://claims';
export const contextUri = (namespace: string): string => `context://${namespace}`;

/**
 * One McpServer per connection: the SDK refuses a second connect on one
 * instance, and a shared instance leaked responses across clients before
 * 1.26 (CVE-2026-25536).
 */
export function createMcpServer(ctx: ToolContext): McpServer {
  const server = new McpServer(
    { name: SERVER_NAME, version: SERVER_VERSION },
    {
      capabilities: { logging: {}, resources: { subscribe: true } },
      instructions:
        'Session Coordinator: call whoami first to learn your session, project root and resume handle. Claim files (claim_acquire) before editing them, and share what others need with context_set. Ask another agent for a file it holds with message_send; read yours with message_inbox.',
    },
  );
  const declaredRoots = new DeclaredRoots(ctx.coordinator, ctx.connection, server.server);
  registerTools(server, ctx, declaredRoots, [...sessionTools, ...contextTools, ...claimTools, ...messageTools]);
  registerResources(server, ctx);
  return server;
}

function json(uri: URL, value: unknown): { contents: Array<{ uri: string; mimeType: string; text: string }> } {
  return { contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(value) }] };
}

/** Sessions, claims and each context namespace as resources; subscriptions belong to the session (R-MCP-3). */
function registerResources(server: McpServer, ctx: ToolContext): void {
  server.registerResource(
    'sessions',
    SESSIONS_URI,
    { title: 'Live sessions', description: 'Every live session of this coordinator', mimeType: 'application/json' },
    async (uri) => json(uri, ctx.coordinator.sessions.infos()),
  );
  server.registerResource(
    'claims',
    CLAIMS_URI,
    { title: 'Claims', description: 'Every live claim on the project, with holder and expiry', mimeType: 'application/json' },
    async (uri) => json(uri, await ctx.coordinator.store.listClaims()),
  );
  server.registerResource(
    'inbox',
    INBOX_URI,
    { title: 'Your messages', description: 'Your unread messages; subscribe to hear of each new one', mimeType: 'application/json' },
    async (uri) => {
      const page = await ctx.coordinator.messages.read(inboxOf(ctx.actor()), { unreadOnly: true, limit: 100 });
      return json(uri, { unread: page.unread, messages: page.messages.map(messageView) });
    },
  );
  server.registerResource(
    'context',
    new ResourceTemplate('context://{namespace}', {
      list: async () => ({
        resources: (await ctx.coordinator.store.namespaces()).map((n) => ({
          uri: contextUri(n),
          name: `context ${n}`,
          mimeType: 'application/json',
        })),
      }),
    }),
    { title: 'Shared context namespace', description: 'The keys, values and versions of one namespace', mimeType: 'application/json' },
    async (uri, { namespace }) => json(uri, await ctx.coordinator.store.list(String(namespace))),
  );
  server.server.setRequestHandler(SubscribeRequestSchema, async (request) => {
    const session = ctx.connection.session;
    if (session) ctx.subscriptions.subscribe(session, request.params.uri);
    return {};
  });
  server.server.setRequestHandler(UnsubscribeRequestSchema, async (request) => {
    const session = ctx.connection.session;
    if (session) ctx.subscriptions.unsubscribe(session, request.params.uri);
    return {};
  });
}
