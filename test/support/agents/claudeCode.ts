import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI } from '../processes.js';
import { agentRun, installedAgent, type AgentResult } from './agentProcess.js';

/**
 * Runs the real Claude Code (pinned, installed by scripts/agents/install.mjs)
 * headless against a scripted model. Found by trying 2.1.328 here:
 * - its MCP servers and its hooks get CLAUDE_CODE_SESSION_ID, the same id the
 *   hooks get as `session_id` on stdin, and AI_AGENT=claude-code_<version>_harness;
 * - its MCP client names itself `claude-code` (clientInfo);
 * - with ENABLE_TOOL_SEARCH=false every MCP tool is offered to the model up front;
 * - a run of a few tool calls takes about 2 s on this machine.
 */
export const CLAUDE_VERSION = '2.1.328';

export function claudeBinary(): string {
  return installedAgent('claude-code', 'Claude Code', CLAUDE_VERSION);
}

export interface ClaudeRun {
  workspace: string;
  prompt?: string;
  /** The scripted model's base URL. */
  modelUrl: string;
  /** The coordinator's install folder (token, discovery files), shared with the product under test. */
  coordinatorHome: string;
  /** Hooks as in .claude/settings.json; default: ours on every tool and SessionEnd, as setup writes them. */
  hooks?: unknown;
  /** Extra MCP config; default: our server over `connect`. */
  mcpServers?: Record<string, unknown>;
  allowedTools?: string[];
  env?: Record<string, string>;
  /**
   * Use the project's own files (.mcp.json, .claude/settings.local.json, as `setup claude-code`
   * writes them) instead of test flags. The folder is marked trusted in Claude Code's own state,
   * as it is for anyone who has opened the project in it once.
   */
  projectConfig?: boolean;
  /** Extra arguments instead of `-p <prompt> ...` (e.g. `mcp list`). */
  args?: string[];
}

/** The hook command `setup claude-code` installs: the built CLI's edit guard, and message delivery. */
export function guardHookCommand(): string {
  return `"${process.execPath}" "${CLI}" hook claude-code`;
}

export function guardHooks(): unknown {
  const hook = { type: 'command', command: guardHookCommand(), timeout: 10 };
  return { PreToolUse: [{ matcher: '*', hooks: [hook] }], SessionEnd: [{ hooks: [hook] }] };
}

/** Starts `claude -p` as a child; the caller waits for it, or kills it. */
export function spawnClaude(run: ClaudeRun): ChildProcess {
  const files = mkdtempSync(path.join(os.tmpdir(), 'sc-claude-'));
  const mcp = path.join(files, 'mcp.json');
  writeFileSync(
    mcp,
    JSON.stringify({
      mcpServers: run.mcpServers ?? {
        'session-coordinator': { type: 'stdio', command: process.execPath, args: [CLI, 'connect', '--workspace', run.workspace] },
      },
    }),
  );
  const settings = path.join(files, 'settings.json');
  writeFileSync(settings, JSON.stringify({ hooks: run.hooks ?? guardHooks() }));
  const home = path.join(files, 'home');
  mkdirSync(home);
  writeFileSync(path.join(home, '.claude.json'), JSON.stringify({ projects: { [run.workspace]: { hasTrustDialogAccepted: true } } }));
  const flags = run.projectConfig ? [] : ['--mcp-config', mcp, '--strict-mcp-config', '--settings', settings];
  const args = run.args ?? [
    '-p',
    run.prompt ?? 'Follow the script.',
    '--output-format',
    'json',
    '--permission-mode',
    'acceptEdits',
    ...flags,
    '--allowedTools',
    (run.allowedTools ?? ['mcp__session-coordinator__*', 'Read', 'Edit', 'Write']).join(' '),
  ];
  return spawn(claudeBinary(), args, {
    cwd: run.workspace,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      XDG_CONFIG_HOME: path.join(home, '.config'),
      TMPDIR: os.tmpdir(),
      ANTHROPIC_BASE_URL: run.modelUrl,
      ANTHROPIC_API_KEY: 'test-key',
      // Otherwise MCP tools are deferred behind a search tool the script would have to call first.
      ENABLE_TOOL_SEARCH: 'false',
      DISABLE_AUTOUPDATER: '1',
      DISABLE_TELEMETRY: '1',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      SESSION_COORDINATOR_HOME: run.coordinatorHome,
      ...run.env,
    },
  });
}

export type ClaudeResult = AgentResult;

/** Runs Claude Code to the end of its script; kills its whole process group past the deadline. */
export function runClaude(run: ClaudeRun, timeoutMs = 60_000): Promise<ClaudeResult> {
  return agentRun(spawnClaude(run), 'Claude Code', timeoutMs);
}
