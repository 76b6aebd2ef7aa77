import * as path from 'node:path';
import { assertNever } from '../errors.js';
import { addToList, mentions, mergeHook, parseConfig, setEntry, setTomlTable, stringify, type Json } from './configEdits.js';

/**
 * What `setup <client>` writes for each agent (R-AGT-3): its MCP server
 * entry and, where the client has hooks, the edit guard. Pure: a plan of
 * edits, each a function of the file's current text; the CLI and the
 * extension apply it (applySetup.ts).
 */
export const SETUP_CLIENTS = ['claude-code', 'vscode', 'cursor', 'cline', 'gemini', 'codex'] as const;
export type SetupClient = (typeof SETUP_CLIENTS)[number];

export function isSetupClient(value: string): value is SetupClient {
  return (SETUP_CLIENTS as readonly string[]).includes(value);
}

export const SERVER_NAME = 'session-coordinator';

export interface SetupContext {
  /** The project folder (absolute). */
  workspace: string;
  /** How the client starts our stdio server: node and the CLI, then `connect --workspace <ws>`. */
  node: string;
  cli: string;
  /** The user's home (Cline's and Codex's config live there). */
  home: string;
  /** Write files outside the project too (Cline, Codex); without it they are only shown. */
  global: boolean;
  /**
   * The install folder when it is not the default one (SESSION_COORDINATOR_HOME where setup runs): passed on with
   * --home, so the agent's connect and hook find the participants live there whatever the agent's own environment.
   */
  installHome?: string;
}

/** One file to create or change: `edit` maps its current text (undefined: absent) to the new one. */
export interface FileEdit {
  readonly file: string;
  /** Outside the project: written only with --global. */
  readonly global: boolean;
  readonly mode?: number;
  edit(current: string | undefined): { text: string; changed: string[] };
}

export interface SetupPlan {
  readonly client: SetupClient;
  readonly edits: FileEdit[];
  /** Said to the person (stderr in the CLI): where a global file is, what is not covered. */
  readonly notes: string[];
}

const quote = (s: string): string => `"${s.replace(/(["\\$`])/g, '\\$1')}"`;

/** The command line of the edit guard a client's hook runs, bound to the project it was set up for. */
export function hookCommand(ctx: Pick<SetupContext, 'node' | 'cli' | 'workspace' | 'installHome'>, client: string): string {
  const home = ctx.installHome === undefined ? '' : ` --home ${quote(ctx.installHome)}`;
  return `${quote(ctx.node)} ${quote(ctx.cli)} hook ${client} --workspace ${quote(ctx.workspace)}${home}`;
}

/** The arguments after the CLI that start our stdio server for an agent: connect, bound to the project (and install). */
export function connectArgs(ctx: Pick<SetupContext, 'workspace' | 'installHome'>): string[] {
  return ['connect', '--workspace', ctx.workspace, ...(ctx.installHome === undefined ? [] : ['--home', ctx.installHome])];
}

/** A hook entry that runs the guard: the shape Claude Code, VS Code and Gemini CLI share (timeout in their unit). */
function guardHook(ctx: SetupContext, client: SetupClient, timeout: number): { type: 'command'; command: string; timeout: number } {
  return { type: 'command', command: hookCommand(ctx, client), timeout };
}

function launch(ctx: SetupContext): { command: string; args: string[] } {
  return { command: ctx.node, args: [ctx.cli, ...connectArgs(ctx)] };
}

/** A JSON settings file: parse what is there (or start empty), apply `change`, write it back formatted. */
function jsonEdit(file: string, change: (root: Json, file: string) => string[], global = false): FileEdit {
  return {
    file,
    global,
    edit(current) {
      const root = current === undefined || current.trim() === '' ? {} : parseConfig(current, file);
      const changed = change(root, file);
      return { text: changed.length === 0 && current !== undefined ? current : stringify(root), changed };
    },
  };
}

const ours =
  (client: string) =>
  (entry: unknown): boolean =>
    mentions(entry, ` hook ${client}`);

/** The user-level folder where VS Code keeps Cline's MCP settings (Linux; macOS and Windows differ). */
function clineSettingsFile(home: string): string {
  return path.join(home, '.config', 'Code', 'User', 'globalStorage', 'saoudrizwan.claude-dev', 'settings', 'cline_mcp_settings.json');
}

export function setupPlan(client: SetupClient, ctx: SetupContext): SetupPlan {
  const ws = (...parts: string[]): string => path.join(ctx.workspace, ...parts);
  const server = launch(ctx);
  const plan = (edits: FileEdit[], notes: string[] = []): SetupPlan => ({ client, edits, notes });
  switch (client) {
    case 'claude-code': {
      const hook = guardHook(ctx, client, 10);
      return plan([
        jsonEdit(ws('.mcp.json'), (root, file) => setEntry(root, 'mcpServers', SERVER_NAME, { type: 'stdio', ...server }, file)),
        // settings.local.json: Claude Code keeps it out of git, and our paths are this machine's.
        jsonEdit(ws('.claude', 'settings.local.json'), (root, file) => [
          // Every tool, not only edits: the hook also hands the agent its new messages (R-AGT-6).
          ...mergeHook(root, 'PreToolUse', { matcher: '*', hooks: [hook] }, ours(client), file),
          ...mergeHook(root, 'SessionEnd', { hooks: [hook] }, ours(client), file),
          ...addToList(root, 'enabledMcpjsonServers', SERVER_NAME, file),
        ]),
      ]);
    }
    case 'vscode': {
      const hook = guardHook(ctx, client, 10);
      return plan(
        [
          jsonEdit(ws('.vscode', 'mcp.json'), (root, file) => setEntry(root, 'servers', SERVER_NAME, { type: 'stdio', ...server }, file)),
          jsonEdit(ws('.github', 'hooks', `${SERVER_NAME}.json`), (root, file) => [
            ...mergeHook(root, 'PreToolUse', hook, ours(client), file),
            ...mergeHook(root, 'SessionEnd', hook, ours(client), file),
          ]),
        ],
        [
          `.github/hooks/${SERVER_NAME}.json names this machine's node and CLI: keep it out of commits, or commit one that runs session-coordinator from PATH.`,
        ],
      );
    }
    case 'cursor':
      return plan([
        jsonEdit(ws('.cursor', 'mcp.json'), (root, file) => setEntry(root, 'mcpServers', SERVER_NAME, server, file)),
        jsonEdit(ws('.cursor', 'hooks.json'), (root, file) => {
          const changed = mergeHook(
            root,
            'preToolUse',
            { command: hookCommand(ctx, client), matcher: 'Write|StrReplace|Edit|Delete|MultiEdit' },
            ours(client),
            file,
          );
          if (root.version !== undefined) return changed;
          root.version = 1;
          return ['version', ...changed];
        }),
      ]);
    case 'gemini': {
      // Gemini CLI counts hook timeouts in milliseconds.
      const hook = guardHook(ctx, client, 10_000);
      return plan([
        jsonEdit(ws('.gemini', 'settings.json'), (root, file) => [
          ...setEntry(root, 'mcpServers', SERVER_NAME, server, file),
          ...mergeHook(root, 'BeforeTool', { matcher: 'write_file|replace', hooks: [hook] }, ours(client), file),
          // After every tool: Gemini takes text for its model only there, so the agent's messages come this way (R-AGT-6).
          ...mergeHook(root, 'AfterTool', { matcher: '*', hooks: [hook] }, ours(client), file),
          ...mergeHook(root, 'SessionEnd', { hooks: [hook] }, ours(client), file),
        ]),
      ]);
    }
    case 'cline': {
      const file = clineSettingsFile(ctx.home);
      return plan(
        [
          jsonEdit(file, (root, f) => setEntry(root, 'mcpServers', SERVER_NAME, { ...server, disabled: false }, f), true),
          {
            file: ws('.clinerules', 'hooks', 'PreToolUse'),
            global: false,
            mode: 0o755,
            edit(current) {
              const text = `#!/bin/sh\n# Session Coordinator's edit guard: written by session-coordinator setup cline.\nexec ${hookCommand(ctx, client)} "$@"\n`;
              return { text, changed: current === text ? [] : ['hook'] };
            },
          },
        ],
        ctx.global ? [] : [`Cline keeps its MCP servers outside the project, in ${file}: run setup cline --global to add ours there.`],
      );
    }
    case 'codex': {
      const file = path.join(ctx.home, '.codex', 'config.toml');
      const body = [`command = ${JSON.stringify(server.command)}`, `args = ${JSON.stringify(server.args)}`].join('\n');
      return plan(
        [
          {
            file,
            global: true,
            edit(current) {
              const text = setTomlTable(current ?? '', `mcp_servers.${SERVER_NAME}`, body);
              return { text, changed: text === current ? [] : [`mcp_servers.${SERVER_NAME}`] };
            },
          },
        ],
        [
          ...(ctx.global ? [] : [`Codex keeps its MCP servers in ${file}: run setup codex --global to add ours there.`]),
          'The edit guard is not installed for Codex: its hooks did not run under codex exec when we tried; its apply_patch edits are not guarded.',
        ],
      );
    }
    default:
      return assertNever(client, 'client');
  }
}
