import { CoordinatorError } from '../errors.js';

/**
 * Which agent a session serves, in the agent's own terms (R-AGT-2): its kind
 * and the agent's session id. Two connections of one agent session (a
 * restarted MCP server, a hook, a second window's relay) are one agent.
 */
export interface AgentIdentity {
  readonly kind: string;
  readonly sessionId: string;
}

/** Sent by `connect` (and the hook) to a participant; trusted only on a request that carries the token. */
export const AGENT_HEADER = 'x-session-coordinator-agent';

// Files and headers are data (R-SEC-3, R-SEC-6): a strict alphabet, capped.
const KIND = /^[a-z][a-z0-9-]{0,31}$/;
const SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export function isAgentIdentity(value: unknown): value is AgentIdentity {
  const v = value as Partial<AgentIdentity> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.kind === 'string' &&
    KIND.test(v.kind) &&
    typeof v.sessionId === 'string' &&
    SESSION_ID.test(v.sessionId)
  );
}

export function checkAgentIdentity(value: unknown): AgentIdentity {
  if (!isAgentIdentity(value)) {
    throw new CoordinatorError(
      'InvalidArgument',
      `Not an agent identity: kind must match ${KIND.source} and sessionId ${SESSION_ID.source}`,
      {},
    );
  }
  return { kind: value.kind, sessionId: value.sessionId };
}

/** `claude-code:5283ce7e-...`: what claims compare, so an agent is never blocked by its own claims. */
export function agentKey(agent: AgentIdentity): string {
  return `${agent.kind}:${agent.sessionId}`;
}

/** For people: "claude-code session 5283ce7e…". */
export function describeAgent(agent: AgentIdentity): string {
  const id = agent.sessionId.length > 8 ? `${agent.sessionId.slice(0, 8)}…` : agent.sessionId;
  return `${agent.kind} session ${id}`;
}

export function formatAgentHeader(agent: AgentIdentity): string {
  return `${agent.kind} ${agent.sessionId}`;
}

/** undefined for an absent or malformed header: a bad header costs the agent its name, not its connection. */
export function parseAgentHeader(value: string | string[] | undefined): AgentIdentity | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined) return undefined;
  const [kind, sessionId, extra] = text.trim().split(/\s+/);
  const agent = { kind, sessionId };
  return extra === undefined && isAgentIdentity(agent) ? agent : undefined;
}

/**
 * What the agent that started this process says about itself in the
 * environment it gave us. Claude Code sets CLAUDE_CODE_SESSION_ID for its
 * MCP servers and its hooks. Gemini CLI gives its MCP servers no session id,
 * only GEMINI_CLI=1; its MCP servers and hooks are both its direct children,
 * so its process id (`agentPid`, our parent) is what ties the two.
 */
export function agentFromEnv(env: NodeJS.ProcessEnv, agentPid: number = process.ppid): AgentIdentity | undefined {
  const claude = { kind: 'claude-code', sessionId: env.CLAUDE_CODE_SESSION_ID };
  if (isAgentIdentity(claude)) return claude;
  if (env.GEMINI_CLI === '1') return geminiAgent(agentPid);
  return undefined;
}

export function geminiAgent(agentPid: number): AgentIdentity {
  return { kind: 'gemini', sessionId: `pid-${agentPid}` };
}
