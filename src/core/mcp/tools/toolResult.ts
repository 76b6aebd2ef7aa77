import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { errorMessage, isCoordinatorError } from '../../errors.js';

export function ok<T extends Record<string, unknown>>(value: T): CallToolResult & { structuredContent: T } {
  return { content: [{ type: 'text', text: JSON.stringify(value) }], structuredContent: value };
}

/** A failure an agent can act on: the sentence says what happened and what to do. */
export function failed(e: unknown): CallToolResult {
  const code = isCoordinatorError(e) ? e.code : 'InternalError';
  return { isError: true, content: [{ type: 'text', text: `${code}: ${errorMessage(e)}` }] };
}
