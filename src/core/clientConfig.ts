import { assertNever } from './errors.js';

export const CLIENTS = ['claude-code', 'cline', 'cursor', 'vscode', 'gemini', 'codex'] as const;
export type ClientName = (typeof CLIENTS)[number];

export function isClientName(value: string): value is ClientName {
  return (CLIENTS as readonly string[]).includes(value);
}

export interface LaunchCommand {
  command: string;
  args: string[];
}

/**
 * Ready-to-paste MCP config for a client (R-MCP-5, R-CLI-3). Clients start
 * the coordinator over stdio, so no token or port ever lands in their files.
 */
export function clientConfig(client: ClientName, launch: LaunchCommand): { file: string; json: unknown; toml?: string } {
  const server = { command: launch.command, args: launch.args };
  switch (client) {
    case 'claude-code':
      return { file: '.mcp.json', json: { mcpServers: { 'session-coordinator': { type: 'stdio', ...server } } } };
    case 'cline':
      return { file: 'cline_mcp_settings.json', json: { mcpServers: { 'session-coordinator': { ...server, disabled: false } } } };
    case 'cursor':
      return { file: '.cursor/mcp.json', json: { mcpServers: { 'session-coordinator': server } } };
    case 'vscode':
      return { file: '.vscode/mcp.json', json: { servers: { 'session-coordinator': { type: 'stdio', ...server } } } };
    case 'gemini':
      return { file: '.gemini/settings.json', json: { mcpServers: { 'session-coordinator': server } } };
    case 'codex':
      // Codex reads TOML; the same entry as JSON is kept for callers that show it as data.
      return {
        file: '~/.codex/config.toml',
        json: { mcp_servers: { 'session-coordinator': server } },
        toml: `[mcp_servers.session-coordinator]\ncommand = ${JSON.stringify(server.command)}\nargs = ${JSON.stringify(server.args)}\n`,
      };
    default:
      return assertNever(client, 'client');
  }
}
