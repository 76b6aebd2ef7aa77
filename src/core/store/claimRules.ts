import * as path from 'node:path';
import { agentKey, describeAgent } from '../agents/agentIdentity.js';
import { CoordinatorError } from '../errors.js';
import type { Actor, Claim } from './sharedStore.js';

/**
 * Claim resources: `task:<name>` for a named task, otherwise a path relative
 * to the project root (a folder claim covers everything under it).
 */
export const TASK_PREFIX = 'task:';

/** `resource` as the agent wrote it (relative to its session root) -> relative to the project root. */
export function normalizeResource(resource: string, sessionRoot: string, projectRoot: string): string {
  const trimmed = resource.trim();
  if (trimmed.startsWith(TASK_PREFIX)) {
    const name = trimmed.slice(TASK_PREFIX.length).trim();
    if (!name) throw new CoordinatorError('InvalidArgument', 'A task claim needs a name: task:<name>', { resource });
    return `${TASK_PREFIX}${name}`;
  }
  if (!trimmed) throw new CoordinatorError('InvalidArgument', 'A claim needs a resource: a path inside the project or task:<name>', { resource });
  const relative = path.relative(projectRoot, path.resolve(sessionRoot, trimmed));
  if (relative.startsWith('..') || path.isAbsolute(relative)) {
    throw new CoordinatorError('InvalidArgument', `Claim path ${resource} is outside the project root ${projectRoot}`, { resource, root: projectRoot });
  }
  return relative === '' ? '.' : relative.split(path.sep).join('/');
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
  const where = `session ${holder.sessionId} (${holder.clientName})`;
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

export function claimConflict(resource: string, claim: Claim): CoordinatorError {
  return new CoordinatorError(
    'ClaimConflict',
    `${resource} is claimed${claim.resource === resource ? '' : ` (through ${claim.resource})`} by ${describeHolder(claim.holder)} until ${new Date(claim.expiresAt).toISOString()}; wait for it to be released or work on something else`,
    { resource, heldResource: claim.resource, ...holderContext(claim) },
  );
}

export function notTheHolder(resource: string, fencingToken: number, claim: Claim): CoordinatorError {
  return new CoordinatorError(
    'ClaimNotHeld',
    `${resource} is held by ${describeHolder(claim.holder)} until ${new Date(claim.expiresAt).toISOString()}, not by you; only its holder can renew or release it`,
    { resource, fencingToken, ...holderContext(claim) },
  );
}
