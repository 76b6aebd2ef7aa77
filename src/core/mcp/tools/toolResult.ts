import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { errorMessage, isCoordinatorError } from '../../errors.js';

export function ok<T extends Record<string, unknown>>(value: T): CallToolResult & { structuredContent: T } {
  return { content: [{ type: 'text', text: JSON.stringify(value) }], structuredContent: value };
}

/** Runs a tool handler; whatever it throws comes back as a failure the agent can read, never as a protocol error. */
export function guarded<A extends unknown[]>(run: (...args: A) => Promise<CallToolResult>): (...args: A) => Promise<CallToolResult> {
  return async (...args) => {
    try {
      return await run(...args);
    } catch (e) {
      return failed(e);
    }
  };
}

/** A failure an agent can act on: the sentence says what happened and what to do. */
export function failed(e: unknown): CallToolResult {
  const code = isCoordinatorError(e) ? e.code : 'InternalError';
  return { isError: true, content: [{ type: 'text', text: `${code}: ${errorMessage(e)}` }] };
}
