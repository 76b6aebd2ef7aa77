import { randomBytes } from 'node:crypto';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { isCoordinatorError } from '../../errors.js';
import type { ToolContext } from './toolContext.js';

export function ok<T extends Record<string, unknown>>(value: T): CallToolResult & { structuredContent: T } {
  return { content: [{ type: 'text', text: JSON.stringify(value) }], structuredContent: value };
}

/** Runs a tool handler; whatever it throws comes back as a failure the agent can read, never as a protocol error. */
export function guarded<A extends unknown[]>(
  ctx: Pick<ToolContext, 'coordinator'>,
  run: (...args: A) => Promise<CallToolResult>,
): (...args: A) => Promise<CallToolResult> {
  return async (...args) => {
    try {
      return await run(...args);
    } catch (e) {
      return failed(ctx, e);
    }
  };
}

/**
 * A failure an agent can act on: our own refusals say what happened and what
 * to do. Anything else (EMFILE, a bug) is ours to fix, not the agent's to
 * read: it gets a fixed sentence and an id, the log gets the detail (R-SEC-6).
 */
export function failed(ctx: Pick<ToolContext, 'coordinator'>, e: unknown): CallToolResult {
  if (isCoordinatorError(e)) return { isError: true, content: [{ type: 'text', text: `${e.code}: ${e.message}` }] };
  const id = randomBytes(4).toString('hex');
  ctx.coordinator.metrics.counter('tools.internalErrors').inc();
  ctx.coordinator.logger.error(`Tool call failed, error ${id}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  return {
    isError: true,
    content: [
      { type: 'text', text: `InternalError: the session coordinator could not complete this call (error ${id}); the detail is in its log` },
    ],
  };
}
