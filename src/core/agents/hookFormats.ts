import * as path from 'node:path';
import { assertNever } from '../errors.js';
import { agentFromEnv, geminiAgent, isAgentIdentity, type AgentIdentity } from './agentIdentity.js';

/**
 * Each agent's hook speaks its own JSON (../shared/docs/agents.md): what it
 * sends before a tool runs, and how it wants to hear "deny". This file is
 * the only place that knows those shapes.
 */
export const HOOK_CLIENTS = ['claude-code', 'vscode', 'gemini', 'cursor', 'cline', 'copilot'] as const;
export type HookClient = (typeof HOOK_CLIENTS)[number];

export function isHookClient(value: string): value is HookClient {
  return (HOOK_CLIENTS as readonly string[]).includes(value);
}

/**
 * The tools VS Code's agent edits with, by the names its hooks receive (read
 * from Copilot Chat 0.67 in VS Code 1.139: `editFiles` is a reference name
 * that never reaches a hook). VS Code ignores a hook's matcher, so every tool
 * comes to the hook: only these are edits.
 */
const VSCODE_EDIT_TOOLS = [
  'replace_string_in_file',
  'multi_replace_string_in_file',
  'insert_edit_into_file',
  'create_file',
  'edit_notebook_file',
  'apply_patch',
  'create_directory',
];
const CLAUDE_CODE_EDIT_TOOLS = ['Edit', 'Write', 'MultiEdit', 'NotebookEdit'];

/** The edit tools each client has, and where each keeps the paths it writes. */
const EDIT_TOOLS: Record<HookClient, readonly string[]> = {
  // VS Code runs the hooks in .claude/settings*.json too, with its own tool names.
  'claude-code': [...CLAUDE_CODE_EDIT_TOOLS, ...VSCODE_EDIT_TOOLS],
  vscode: [...VSCODE_EDIT_TOOLS, ...CLAUDE_CODE_EDIT_TOOLS],
  gemini: ['write_file', 'replace'],
  cursor: ['Write', 'StrReplace', 'Edit', 'Delete', 'MultiEdit'],
  cline: ['write_to_file', 'replace_in_file', 'apply_diff'],
  copilot: ['edit', 'create', 'write', 'str_replace', 'str_replace_editor'],
};

/**
 * Clients whose PreToolUse answer can add text to the model's context
 * (`hookSpecificOutput.additionalContext`; read in Claude Code 2.1.328): a
 * message reaches their model on the agent's next tool call (R-AGT-6).
 * Gemini CLI (0.61) reads it only from AfterTool hooks, appended to the tool's
 * result as <hook_context>: its messages come after the call instead.
 */
const CONTEXT_CLIENTS: ReadonlySet<HookClient> = new Set(['claude-code', 'vscode']);

const PATH_FIELDS = ['file_path', 'filePath', 'notebook_path', 'path', 'target_file', 'file', 'dirPath'];

/** What a hook's input means, whatever client sent it. */
export type HookInput =
  | { kind: 'edit'; agent: AgentIdentity | undefined; tool: string; paths: string[] }
  /** Any other tool, from a client that can be told the agent's messages before it runs. */
  | { kind: 'tool'; agent: AgentIdentity | undefined; tool: string }
  | { kind: 'end'; agent: AgentIdentity | undefined }
  /** Not an edit and not an end: none of the guard's business. */
  | { kind: 'other'; what: string };

type Json = Record<string, unknown>;

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
const obj = (v: unknown): Json => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {});

function pathsIn(input: Json, cwd: string): string[] {
  const out: string[] = [];
  for (const field of PATH_FIELDS) {
    const p = str(input[field]);
    if (p) out.push(p);
  }
  // `files` (several clients) and VS Code's multi_replace_string_in_file `replacements`.
  for (const f of [...(Array.isArray(input.files) ? input.files : []), ...(Array.isArray(input.replacements) ? input.replacements : [])]) {
    const p = str(f) ?? str(obj(f).path) ?? str(obj(f).filePath);
    if (p) out.push(p);
  }
  // apply_patch (VS Code, Codex) names its files inside the patch text; a move writes its target too.
  const patch = str(input.input) ?? str(input.patch);
  if (patch) for (const m of patch.matchAll(/^\*\*\* (?:(?:Update|Add|Delete) File|Move to): (.+)$/gm)) out.push(m[1]!.trim());
  return [...new Set(out.map((p) => path.resolve(cwd, p)))];
}

/** Where the hook runs: its environment, and the agent's process (our parent, past any shell). */
export interface HookProcess {
  readonly env: NodeJS.ProcessEnv;
  readonly agentPid: number;
}

function agentOf(kind: HookClient, id: string | undefined, proc: HookProcess): AgentIdentity | undefined {
  // Gemini's MCP servers learn no session id: both sides name the agent by its process.
  if (kind === 'gemini') return geminiAgent(proc.agentPid);
  const agent = { kind, sessionId: id };
  if (isAgentIdentity(agent)) return agent;
  // VS Code also runs Claude Code's hooks; an id in the environment is the agent's own.
  return agentFromEnv(proc.env, proc.agentPid);
}

/** Reads one hook input; throws with what is wrong when it is not something a client sends. */
export function parseHookInput(client: HookClient, raw: unknown, fallbackCwd: string, proc: HookProcess): HookInput {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('the hook input is not a JSON object');
  const input = raw as Json;
  const cwd = str(input.cwd) ?? fallbackCwd;
  if (client === 'cline') {
    const agent = agentOf('cline', str(input.taskId), proc);
    if (input.taskComplete !== undefined || input.taskCancel !== undefined) return { kind: 'end', agent };
    const pre = obj(input.preToolUse);
    const tool = str(pre.toolName);
    if (!tool) return { kind: 'other', what: 'not a PreToolUse call' };
    if (!EDIT_TOOLS.cline.includes(tool)) return { kind: 'other', what: tool };
    return { kind: 'edit', agent, tool, paths: pathsIn(obj(pre.parameters), cwd) };
  }
  const event = str(input.hook_event_name) ?? str(input.hookEventName) ?? str(input.event);
  const id = str(input.session_id) ?? str(input.sessionId) ?? str(input.conversation_id);
  const agent = agentOf(client, id, proc);
  if (event === 'SessionEnd' || event === 'sessionEnd') return { kind: 'end', agent };
  if (event === 'AfterTool' && client === 'gemini') return { kind: 'tool', agent, tool: str(input.tool_name) ?? 'a tool' };
  if (event !== undefined && !['PreToolUse', 'preToolUse', 'BeforeTool'].includes(event)) return { kind: 'other', what: event };
  const tool = str(input.tool_name) ?? str(input.toolName);
  if (!tool) return { kind: 'other', what: 'no tool named' };
  if (!EDIT_TOOLS[client].includes(tool))
    return CONTEXT_CLIENTS.has(client) ? { kind: 'tool', agent, tool } : { kind: 'other', what: tool };
  const args = obj(input.tool_input ?? input.toolInput ?? input.toolArgs);
  return { kind: 'edit', agent, tool, paths: pathsIn(args, cwd) };
}

/** How the hook answers: its exit code, and what goes on stdout and stderr. */
export interface HookAnswer {
  /** 0 allow, 2 deny; 1 only when the hook itself is misconfigured (every client lets the edit through). */
  readonly exitCode: 0 | 1 | 2;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * allow: the edit goes on, with an optional warning for the person.
 * deny: the client stops the tool call and shows the reason to the model.
 * `context`: text for the model (its new messages), where the client takes it.
 */
export function answer(client: HookClient, decision: 'allow' | 'deny', message: string | undefined, context?: string): HookAnswer {
  const json = (v: unknown): string => `${JSON.stringify(v)}\n`;
  if (decision === 'allow') {
    switch (client) {
      case 'claude-code':
      case 'vscode': {
        // No permissionDecision: "allow" there would skip the person's own permission rules.
        const out = {
          ...(message ? { systemMessage: message } : {}),
          ...(context ? { hookSpecificOutput: { hookEventName: 'PreToolUse', additionalContext: context } } : {}),
        };
        return { exitCode: 0, stdout: Object.keys(out).length > 0 ? json(out) : '', stderr: '' };
      }
      case 'gemini':
        return {
          exitCode: 0,
          stdout: json({
            decision: 'allow',
            ...(message ? { systemMessage: message } : {}),
            ...(context ? { hookSpecificOutput: { hookEventName: 'AfterTool', additionalContext: context } } : {}),
          }),
          stderr: '',
        };
      case 'cursor':
        return {
          exitCode: 0,
          stdout: json(message ? { permission: 'allow', user_message: message } : { permission: 'allow' }),
          stderr: '',
        };
      case 'cline':
        return { exitCode: 0, stdout: json(message ? { cancel: false, contextModification: message } : { cancel: false }), stderr: '' };
      case 'copilot':
        return { exitCode: 0, stdout: '', stderr: message ? `${message}\n` : '' };
      default:
        return assertNever(client, 'client');
    }
  }
  // A denied call still carries the agent's news: the reason is what its model reads.
  const reason = `${message ?? 'Blocked by Session Coordinator'}${context && CONTEXT_CLIENTS.has(client) ? `\n\n${context}` : ''}`;
  switch (client) {
    // Exit 2 with the reason on stderr: tried with both, and the model gets the reason as the tool's error.
    case 'claude-code':
    case 'gemini':
      return { exitCode: 2, stdout: '', stderr: `${reason}\n` };
    case 'vscode':
      return {
        exitCode: 0,
        stdout: json({ hookSpecificOutput: { hookEventName: 'PreToolUse', permissionDecision: 'deny', permissionDecisionReason: reason } }),
        stderr: '',
      };
    case 'cursor':
      return { exitCode: 0, stdout: json({ permission: 'deny', user_message: reason, agent_message: reason }), stderr: '' };
    case 'cline':
      return { exitCode: 0, stdout: json({ cancel: true, errorMessage: reason }), stderr: '' };
    case 'copilot':
      return { exitCode: 0, stdout: json({ permissionDecision: 'deny', permissionDecisionReason: reason }), stderr: '' };
    default:
      return assertNever(client, 'client');
  }
}
