import type { McpServer, ToolCallback } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import type { DeclaredRoots, ToolExtra } from '../declaredRoots.js';
import type { ToolContext } from './toolContext.js';
import { guarded, ok } from './toolResult.js';

/** What a tool's handler works with besides its arguments. */
export interface ToolCall {
  readonly ctx: ToolContext;
  readonly extra: ToolExtra;
  /** The agent's declared MCP roots, read on demand (R-ROOT-4). */
  readonly roots: DeclaredRoots;
}

/**
 * One MCP tool as data: its name, words, schemas and handler. The handler
 * returns the structured result, or throws; `registerTools` turns both into
 * what an agent reads, the same way for every tool.
 */
export interface ToolSpec<I extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly input: I;
  readonly output: z.ZodType;
  readonly annotations?: ToolAnnotations;
  readonly run: (args: z.output<I>, call: ToolCall) => Promise<Record<string, unknown>>;
}

/** Declares a tool, inferring its arguments' type from its input schema. */
export function tool<I extends z.ZodType>(spec: ToolSpec<I>): ToolSpec {
  return spec as unknown as ToolSpec;
}

/** Registers a family of tools: each handler's result becomes structured content, each throw an `isError` result (R-SEC-6). */
export function registerTools(server: McpServer, ctx: ToolContext, roots: DeclaredRoots, tools: readonly ToolSpec[]): void {
  for (const t of tools) {
    const run = guarded(ctx, async (args: unknown, extra: ToolExtra) => ok(await t.run(args, { ctx, extra, roots })));
    server.registerTool(
      t.name,
      {
        title: t.title,
        description: t.description,
        inputSchema: t.input,
        outputSchema: t.output,
        ...(t.annotations ? { annotations: t.annotations } : {}),
      },
      run as unknown as ToolCallback<z.ZodType>,
    );
  }
}
