import { z } from 'zod';
import { actor } from './actorSchema.js';
import { tool } from './toolTable.js';

const namespace = z.string().min(1).max(64).describe('Namespace: lower-case letters, digits, ".", "_", "-"; one shard each');
const key = z.string().min(1).max(512);
const expectedVersion = z
  .number()
  .int()
  .min(0)
  .optional()
  .describe('Compare-and-set: apply only if the key is at this version (0 = absent)');
const entry = z.object({ key: z.string(), value: z.unknown(), version: z.number(), updatedAt: z.number(), updatedBy: actor });
const change = z.object({
  namespace: z.string(),
  seq: z.number(),
  key: z.string(),
  op: z.enum(['set', 'delete']),
  value: z.unknown().optional(),
  version: z.number(),
  previousVersion: z.number(),
  previousValue: z.unknown().optional(),
  at: z.number(),
  by: actor,
});

// Built once per process: zod clones on every refinement, and this runs for every connection otherwise.
const schemas = {
  get: {
    input: z.object({ namespace, key }),
    output: z.object({
      namespace: z.string(),
      key: z.string(),
      value: z.unknown().optional(),
      version: z.number(),
      updatedAt: z.number().optional(),
      updatedBy: actor.optional(),
    }),
  },
  set: {
    input: z.object({ namespace, key, value: z.unknown().describe('Any JSON value'), expectedVersion }),
    output: z.object({ namespace: z.string(), key: z.string(), version: z.number() }),
  },
  increment: {
    input: z.object({
      namespace,
      key,
      by: z.number().int().min(-1e15).max(1e15).optional().describe('How much to add (negative to subtract); 1 when omitted'),
    }),
    output: z.object({ namespace: z.string(), key: z.string(), value: z.number(), version: z.number() }),
  },
  delete: {
    input: z.object({ namespace, key, expectedVersion }),
    output: z.object({ namespace: z.string(), key: z.string(), deleted: z.boolean(), version: z.number() }),
  },
  list: {
    input: z.object({ namespace, prefix: z.string().max(512).optional() }),
    output: z.object({ namespace: z.string(), entries: z.array(entry) }),
  },
  history: {
    input: z.object({
      namespace: namespace.optional(),
      cursor: z.string().max(4096).optional(),
      limit: z.number().int().min(1).max(1000).optional(),
    }),
    output: z.object({ records: z.array(change), nextCursor: z.string() }),
  },
};

/** context_get/set/increment/delete/list/history: the versioned key/value store shared by every window and agent (R-MCP-3). */
export const contextTools = [
  tool({
    name: 'context_get',
    title: 'Read a shared value',
    description: 'Reads a key of the shared context. Returns its value and version; version 0 and no value when the key does not exist.',
    ...schemas.get,
    annotations: { readOnlyHint: true },
    run: async (args, { ctx }) => {
      const found = await ctx.coordinator.store.get(args.namespace, args.key);
      return {
        namespace: args.namespace,
        key: args.key,
        version: found?.version ?? 0,
        ...(found ? { value: found.value, updatedAt: found.updatedAt, updatedBy: found.updatedBy } : {}),
      };
    },
  }),
  tool({
    name: 'context_set',
    title: 'Write a shared value',
    description:
      'Writes a key of the shared context; every window and agent on the project sees it. Pass expectedVersion (from context_get) to write only if nobody changed it meanwhile: on a conflict nothing is written and the result says the current version.',
    ...schemas.set,
    run: async (args, { ctx }) => {
      const written = await ctx.coordinator.store.set(
        args.namespace,
        args.key,
        args.value,
        ctx.actor(),
        args.expectedVersion === undefined ? {} : { expectedVersion: args.expectedVersion },
      );
      return { namespace: args.namespace, key: args.key, version: written.version };
    },
  }),
  tool({
    name: 'context_increment',
    title: 'Add to a shared counter',
    description:
      'Adds to a whole-number value of the shared context in one atomic step (an absent key counts as 0): agents counting together never conflict, so no read and retry. Refused, with nothing written, when the key holds anything but a whole number.',
    ...schemas.increment,
    run: async (args, { ctx }) => {
      const written = await ctx.coordinator.store.increment(args.namespace, args.key, args.by ?? 1, ctx.actor());
      return { namespace: args.namespace, key: args.key, value: written.value as number, version: written.version };
    },
  }),
  tool({
    name: 'context_delete',
    title: 'Delete a shared value',
    description: 'Deletes a key of the shared context, optionally only at an expected version.',
    ...schemas.delete,
    annotations: { destructiveHint: true },
    run: async (args, { ctx }) => {
      const result = await ctx.coordinator.store.delete(
        args.namespace,
        args.key,
        ctx.actor(),
        args.expectedVersion === undefined ? {} : { expectedVersion: args.expectedVersion },
      );
      return { namespace: args.namespace, key: args.key, ...result };
    },
  }),
  tool({
    name: 'context_list',
    title: 'List shared values',
    description: 'Lists the keys of a namespace (optionally those starting with a prefix), with values and versions.',
    ...schemas.list,
    annotations: { readOnlyHint: true },
    run: async (args, { ctx }) => ({ namespace: args.namespace, entries: await ctx.coordinator.store.list(args.namespace, args.prefix) }),
  }),
  tool({
    name: 'context_history',
    title: 'Shared context history',
    description:
      'The event log of changes (who, what, when, previous value), oldest first. Pass nextCursor back to read on; omit namespace for all namespaces.',
    ...schemas.history,
    annotations: { readOnlyHint: true },
    run: async (args, { ctx }) => {
      const page = await ctx.coordinator.store.history({
        ...(args.namespace ? { namespace: args.namespace } : {}),
        ...(args.cursor ? { cursor: args.cursor } : {}),
        ...(args.limit ? { limit: args.limit } : {}),
      });
      return { records: page.records, nextCursor: page.nextCursor };
    },
  }),
];
