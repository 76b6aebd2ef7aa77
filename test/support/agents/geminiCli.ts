import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { agentRun, installedAgent, type AgentResult } from './agentProcess.js';

/**
 * Runs the real Gemini CLI (pinned, installed by scripts/agents/install.mjs)
 * headless against a scripted model. Found by trying 0.61.0 here: its MCP
 * client names itself gemini-cli-mcp-client; MCP tools reach the model as
 * mcp_<server>_<tool>; it drops variables named like *TOKEN* before starting
 * an MCP server (so connect reads the install's token file); the hook and the
 * MCP server are both direct children of its process; a BeforeTool hook that
 * exits 2 stops the tool and the model gets "Tool execution blocked: <stderr>".
 */
export const GEMINI_VERSION = '0.61.0';

export function geminiBinary(): string {
  return installedAgent('gemini', 'Gemini CLI', GEMINI_VERSION);
}

export type GeminiResult = AgentResult;

/** Runs `gemini -p` in a workspace whose .gemini/settings.json is already there (setup gemini writes it). */
export function runGemini(
  run: { workspace: string; modelUrl: string; coordinatorHome: string },
  timeoutMs = 90_000,
): Promise<GeminiResult> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'sc-gemini-'));
  mkdirSync(path.join(home, '.gemini'));
  writeFileSync(path.join(home, '.gemini', 'settings.json'), JSON.stringify({ security: { auth: { selectedType: 'gemini-api-key' } } }));
  const child = spawn(geminiBinary(), ['-p', 'Follow the script.', '--yolo', '--output-format', 'json'], {
    cwd: run.workspace,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      TMPDIR: os.tmpdir(),
      GOOGLE_GEMINI_BASE_URL: run.modelUrl,
      GEMINI_API_KEY: 'test-key',
      GEMINI_CLI_TRUST_WORKSPACE: 'true',
      SESSION_COORDINATOR_HOME: run.coordinatorHome,
    },
  });
  return agentRun(child, 'Gemini CLI', timeoutMs);
}
