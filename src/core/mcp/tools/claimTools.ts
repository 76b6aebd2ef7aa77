import { z } from 'zod';
import { CoordinatorError, errorMessage } from '../../errors.js';
import { ALL, inboxOf, PEOPLE } from '../../messages/messageRules.js';
import { claimTargetOf, inAgentsWords } from '../../store/claimPaths.js';
import { alsoChangedElsewhere, describeHolder, sameHolder } from '../../store/rules/claims.js';
import type { ProjectScope } from '../../projects/projectScopes.js';
import type { Actor, Claim } from '../../store/actors.js';
import type { SharedStore } from '../../store/sharedStore.js';
import { actor } from './actorSchema.js';
import type { ToolContext } from './toolContext.js';
import { tool, type ToolCall } from './toolTable.js';

const DEFAULT_TTL_SECONDS = 300;
const resource = z.string().min(1).max(1024).describe('A path relative to your root (a folder covers everything under it), or task:<name>');
const ttlSeconds = z.number().int().min(1).max(86_400).optional().describe(`Lease length; default ${DEFAULT_TTL_SECONDS} s`);
const claim = z.object({
  resource: z.string(),
  checkout: z
    .string()
    .optional()
    .describe('The git worktree the claim was made in (its path); each worktree of the repository has its own claims'),
  fencingToken: z.number(),
  expiresAt: z.string(),
  holder: actor,
});
const fencingToken = z.number().int().min(1);

// Built once per process: zod clones on every refinement, and this runs for every connection otherwise.
const schemas = {
  acquire: {
    input: z.object({ resource, ttlSeconds }),
    output: claim.extend({
      alsoClaimedIn: z
        .array(claim)
        .optional()
        .describe('The same file, claimed in other worktrees of the repository: your changes will meet at merge time'),
      warning: z.string().optional(),
    }),
  },
  renew: { input: z.object({ resource, fencingToken, ttlSeconds }), output: claim },
  release: { input: z.object({ resource, fencingToken }), output: z.object({ resource: z.string(), released: z.boolean() }) },
  list: { input: z.object({ prefix: z.string().max(1024).optional() }), output: z.object({ claims: z.array(claim) }) },
  transfer: {
    input: z.object({
      resource,
      to: z.string().min(1).max(256).describe('The live agent or session to hand it to, as message_send names it'),
      fencingToken,
      ttlSeconds,
    }),
    output: claim.extend({ notified: z.boolean().describe('The recipient was sent a message saying so') }),
  },
};

function view(c: Claim): { resource: string; checkout?: string; fencingToken: number; expiresAt: string; holder: Claim['holder'] } {
  return {
    resource: c.resource,
    ...(c.checkout ? { checkout: c.checkout } : {}),
    fencingToken: c.fencingToken,
    expiresAt: new Date(c.expiresAt).toISOString(),
    holder: c.holder,
  };
}

/**
 * The project the session works in: the first folder's, or another folder's
 * with its own store (R-SEC-7). The agent's declared roots are read first: a
 * claim made before they are known would be named from the wrong root.
 */
async function scopeOf({ ctx, extra, roots }: ToolCall): Promise<ProjectScope> {
  await roots.ensure(extra);
  return ctx.coordinator.scopeOf(ctx.connection.session?.root);
}

/** Runs `work` on what the resource `r` names in the session's project; the store names the file by its real path, and a refusal says the agent's own spelling too. */
async function onTarget<T>(
  call: ToolCall,
  r: string,
  work: (resource: string, store: SharedStore, actor: Actor) => Promise<T>,
): Promise<T> {
  const { ctx } = call;
  const scope = await scopeOf(call);
  const target = await claimTargetOf(r, ctx.connection.session?.root ?? scope.root, scope.root, ctx.coordinator.options.roots.timeoutMs);
  try {
    return await work(target.resource, scope.store, ctx.actor(scope));
  } catch (e) {
    throw inAgentsWords(e, target);
  }
}

/** claim_acquire/renew/release/transfer/list: advisory leases so agents do not step on each other (R-CLM, R-MCP-3). */
export const claimTools = [
  tool({
    name: 'claim_acquire',
    title: 'Claim a file, folder or task',
    description:
      'Takes an advisory lease on a file, a folder (everything under it) or task:<name>, for every window and agent on the project. Refused, with the holder and expiry, when another session holds something overlapping. Keep the fencingToken: renew and release need it.',
    ...schemas.acquire,
    run: async (args, call) => {
      const options = { acrossWorktrees: call.ctx.coordinator.options.claims.acrossWorktrees };
      const granted = await onTarget(call, args.resource, (r, store, actor) =>
        store.acquireClaim(r, actor, (args.ttlSeconds ?? DEFAULT_TTL_SECONDS) * 1000, options),
      );
      const elsewhere = granted.elsewhere ?? [];
      return {
        ...view(granted),
        ...(elsewhere.length ? { alsoClaimedIn: elsewhere.map(view), warning: alsoChangedElsewhere(elsewhere) } : {}),
      };
    },
  }),
  tool({
    name: 'claim_renew',
    title: 'Renew a claim',
    description: 'Extends a claim you hold; refused when the fencing token is not the current one.',
    ...schemas.renew,
    run: async (args, call) =>
      view(
        await onTarget(call, args.resource, (r, store, actor) =>
          store.renewClaim(r, args.fencingToken, (args.ttlSeconds ?? DEFAULT_TTL_SECONDS) * 1000, actor),
        ),
      ),
  }),
  tool({
    name: 'claim_release',
    title: 'Release a claim',
    description: 'Releases a claim you hold; refused when the fencing token is not the current one.',
    ...schemas.release,
    run: async (args, call) => {
      const released = await onTarget(call, args.resource, async (r, store, actor) => {
        await store.releaseClaim(r, args.fencingToken, actor);
        return r;
      });
      return { resource: released, released: true };
    },
  }),
  tool({
    name: 'claim_transfer',
    title: 'Hand a claim to another agent',
    description:
      'Gives a claim you hold to another live agent or session at once, under a new, larger fencing token (your old token stops working), and tells the recipient by message. Use it when someone asks for what you hold.',
    ...schemas.transfer,
    run: async (args, call) => {
      const { ctx } = call;
      const actor = ctx.actor();
      const recipient = await recipientOf(ctx, args.to, actor);
      const ttlMs = (args.ttlSeconds ?? DEFAULT_TTL_SECONDS) * 1000;
      const granted = await onTarget(call, args.resource, (r, store) => {
        // The recipient is named as the first folder's store knows it; another project's store knows its participants by other ids.
        if (store !== ctx.coordinator.store)
          throw new CoordinatorError(
            'InvalidArgument',
            `claim_transfer works in the first workspace folder's project; here, release ${args.resource} and let ${args.to} claim it`,
            { resource: args.resource },
          );
        return store.transferClaim(r, args.fencingToken, recipient, ttlMs, actor);
      });
      const notified = await ctx.coordinator.messages
        .send(actor, inboxOf(recipient), {
          subject: `${granted.resource} is yours`,
          body: `${describeHolder(actor)} handed you its claim on ${granted.resource}: fencing token ${granted.fencingToken}, until ${new Date(granted.expiresAt).toISOString()}. Renew it with claim_renew, release it with claim_release.`,
        })
        .then(
          () => true,
          (e) => {
            ctx.coordinator.logger.warn(`Telling ${inboxOf(recipient)} of the transfer of ${granted.resource}: ${errorMessage(e)}`);
            return false;
          },
        );
      return { ...view(granted), notified };
    },
  }),
  tool({
    name: 'claim_list',
    title: 'List claims',
    description: 'The live claims of the project (optionally those whose resource starts with a prefix), with holders and expiry.',
    ...schemas.list,
    annotations: { readOnlyHint: true },
    run: async (args, call) => ({ claims: (await (await scopeOf(call)).store.listClaims(args.prefix)).map(view) }),
  }),
];

/** One live agent or session other than the caller: a claim goes to someone, never to a group. */
async function recipientOf(ctx: ToolContext, to: string, from: Actor): Promise<Actor> {
  if (to === ALL || to === PEOPLE)
    throw new CoordinatorError('InvalidArgument', `A claim goes to one live agent or session, not to ${JSON.stringify(to)}`, { to });
  const [found] = await ctx.coordinator.messages.resolve(to, from);
  if (!found || sameHolder(found.actor, from))
    throw new CoordinatorError('InvalidArgument', `${JSON.stringify(to)} is you: you already hold what you hold`, { to });
  // The grant is the recipient's own, not one the edit guard took for it.
  const { via: _via, ...actor } = found.actor;
  return actor;
}
