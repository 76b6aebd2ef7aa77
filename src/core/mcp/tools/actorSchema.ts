import { z } from 'zod';
import { agent } from './sessionTools.js';

/**
 * An Actor (store/actors.ts) as tools return it: who wrote a value or holds a
 * claim. Every field the store keeps is here, since a client validates
 * structuredContent against the output schema and refuses a field it does
 * not declare (the SDK's Client.callTool: "must NOT have additional properties").
 */
export const actor = z.object({
  sessionId: z.string(),
  clientName: z.string(),
  participantId: z.string(),
  agent: agent.optional(),
  via: z.literal('edit-guard').optional().describe("Taken by the edit guard before one of the agent's edits"),
  worktree: z.string().optional().describe('The git checkout it works in, and its branch'),
  checkout: z.string().optional().describe("That checkout's path"),
});
