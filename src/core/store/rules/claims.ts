import * as path from 'node:path';
import { agentKey, describeAgent } from '../../agents/agentIdentity.js';
import { CoordinatorError } from '../../errors.js';
import type { Actor, Claim } from '../actors.js';

/**
 * Claim resources: `task:<name>` for a named task, otherwise a path relative
 * to the project root (a folder claim covers everything under it). The rules
 * here are pure; claimPaths.ts turns what an agent wrote into a resource.
 */
export const TASK_PREFIX = 'task:';

/** An absolute path as a claim resource: relative to the project root, '/'-separated, '.' for the root; undefined outside it. */
export function pathResource(projectRoot: string, absolute: string): string | undefined {
  const relative = path.relative(projectRoot, absolute);
  if (relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)) return undefined;
  return relative === '' ? '.' : relative.split(path.sep).join('/');
}

/** `held` covers `resource`: the same, or a folder above it. */
export function covers(held: string, resource: string): boolean {
  return (
    held === resource ||
    (!held.startsWith(TASK_PREFIX) && !resource.startsWith(TASK_PREFIX) && (held === '.' || resource.startsWith(`${held}/`)))
  );
}

/**
 * Claims are kept per git checkout: the key is the resource, after the
 * checkout's path and a unit separator when the claim was made in one. So two
 * worktrees can each hold a.txt (when overlaps across worktrees only warn),
 * and a project outside git keys claims as it always did.
 */
const CHECKOUT_SEPARATOR = '\u001f';

export function claimKey(checkout: string | undefined, resource: string): string {
  return checkout ? `${checkout}${CHECKOUT_SEPARATOR}${resource}` : resource;
}

export function splitClaimKey(key: string): { checkout?: string; resource: string } {
  const at = key.indexOf(CHECKOUT_SEPARATOR);
  return at < 0 ? { resource: key } : { checkout: key.slice(0, at), resource: key.slice(at + 1) };
}

/** Two claims overlap when they name the same thing or one folder contains the other. */
export function overlaps(a: string, b: string): boolean {
  if (a === b) return true;
  const aTask = a.startsWith(TASK_PREFIX);
  if (aTask || b.startsWith(TASK_PREFIX)) return false;
  if (a === '.' || b === '.') return true;
  return a.startsWith(b + '/') || b.startsWith(a + '/');
}

/** Who a claim belongs to: the agent when it said who it is, else the session (R-AGT-2). */
export function holderKey(actor: Actor): string {
  return actor.agent ? agentKey(actor.agent) : actor.sessionId;
}

export function sameHolder(a: Actor, b: Actor): boolean {
  return holderKey(a) === holderKey(b);
}

/** "claude-code session 5283ce7e… (session 1f2e…, claude-code)": the agent first, then where to find it. */
export function describeHolder(holder: Actor): string {
  const where = `session ${holder.sessionId} (${holder.clientName})${holder.worktree ? ` in worktree ${holder.worktree}` : ''}`;
  return holder.agent ? `${describeAgent(holder.agent)}, ${where}` : where;
}

function holderContext(claim: Claim): Record<string, unknown> {
  return {
    holderSessionId: claim.holder.sessionId,
    holderClient: claim.holder.clientName,
    ...(claim.holder.agent ? { holderAgent: claim.holder.agent } : {}),
    expiresAt: claim.expiresAt,
  };
}

/** "src/a.ts is claimed (through src) by <holder> until <expiry>": the fact, for an error or a hook's denial. */
export function describeConflict(resource: string, claim: Claim): string {
  return `${resource} is claimed${claim.resource === resource ? '' : ` (through ${claim.resource})`} by ${describeHolder(claim.holder)} until ${new Date(claim.expiresAt).toISOString()}`;
}

export function claimConflict(resource: string, claim: Claim): CoordinatorError {
  return new CoordinatorError(
    'ClaimConflict',
    `${describeConflict(resource, claim)}; wait for it to be released or work on something else`,
    {
      resource,
      heldResource: claim.resource,
      ...holderContext(claim),
    },
  );
}

export function notTheHolder(resource: string, fencingToken: number, claim: Claim): CoordinatorError {
  return new CoordinatorError(
    'ClaimNotHeld',
    `${resource} is held by ${describeHolder(claim.holder)} until ${new Date(claim.expiresAt).toISOString()}, not by you; only its holder can renew or release it`,
    { resource, fencingToken, ...holderContext(claim) },
  );
}

/** What the model is told when the file it edits is also claimed in another worktree (issue 17, "warn"). */
export function alsoChangedElsewhere(claims: readonly Claim[]): string {
  const lines = claims.map(
    (c) =>
      `- ${c.resource}: ${describeHolder(c.holder)}${c.holder.worktree ? '' : c.checkout ? ` in ${c.checkout}` : ''}, until ${new Date(c.expiresAt).toISOString()}`,
  );
  return `Session Coordinator: another worktree of this repository is changing what you edit; your changes will meet at merge time. Coordinate with message_send, or work on something else:\n${lines.join('\n')}`;
}

/** One file (or folder) that agents in more than one worktree of the repository are changing. */
export interface WorktreeOverlap {
  readonly resource: string;
  readonly worktrees: ReadonlyArray<{ checkout: string; worktree?: string; holder: string; resource: string }>;
}

/**
 * The conflict radar (issue 17): claims whose overlap crosses worktrees,
 * one entry per resource, each with every worktree changing it. What no
 * claim refuses under "warn" and what a person merges later.
 */
export function worktreeOverlaps(claims: readonly Claim[]): WorktreeOverlap[] {
  const out = new Map<string, WorktreeOverlap>();
  for (const c of claims) {
    if (!c.checkout) continue;
    const others = claims.filter((o) => o.checkout && o.checkout !== c.checkout && overlaps(o.resource, c.resource));
    if (others.length === 0 || out.has(c.resource)) continue;
    const entry = (x: Claim): WorktreeOverlap['worktrees'][number] => ({
      checkout: x.checkout!,
      ...(x.holder.worktree ? { worktree: x.holder.worktree } : {}),
      holder: describeHolder(x.holder),
      resource: x.resource,
    });
    out.set(c.resource, { resource: c.resource, worktrees: [c, ...others].map(entry) });
  }
  return [...out.values()].sort((a, b) => a.resource.localeCompare(b.resource));
}
