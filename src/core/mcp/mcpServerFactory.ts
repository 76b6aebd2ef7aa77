import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { DeclaredRoots } from './declaredRoots.js';
import { registerSessionTools } from './tools/sessionTools.js';
import type { ToolContext } from './tools/toolContext.js';

export const SERVER_NAME = 'session-coordinator';
export const SERVER_VERSION = '0.1.0';

/**
 * One McpServer per connection: the SDK refuses a second connect on one
 * instance, and a shared instance leaked responses across clients before
 * 1.26 (CVE-2026-25536).
 */
export function createMcpServer(ctx: ToolContext): McpServer {
  const server = new McpServer(
    { name: SERVER_NAME, version: SERVER_VERSION },
    {
      capabilities: { logging: {}, resources: {} },
      instructions:
        'Session Coordinator: call whoami first to learn your session, project root and resume handle; keep the handle to get your session back after a reconnect.',
    },
  );
  registerSessionTools(server, ctx, new DeclaredRoots(ctx.coordinator, ctx.connection, server.server));
  server.registerResource(
    'sessions',
    'coordinator://sessions',
    { title: 'Live sessions', description: 'Every live session of this coordinator, as JSON', mimeType: 'application/json' },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(ctx.coordinator.sessions.infos()) }] }),
  );
  return server;
}
