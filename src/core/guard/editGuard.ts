import * as path from 'node:path';
import { CoordinatorError } from '../errors.js';
import type { Mailbox } from '../messages/mailbox.js';
import { forModel, inboxOf } from '../messages/messageRules.js';
import type { Metrics } from '../metrics/metrics.js';
import { fileResourceOf } from '../store/claimPaths.js';
import { alsoChangedElsewhere, covers, describeConflict, overlaps, pathResource, sameHolder } from '../store/rules/claims.js';
import { describeWorktree, type GitLayout } from '../repository/gitLayout.js';
import type { AcrossWorktrees, Actor, Claim } from '../store/actors.js';
import type { SharedStore } from '../store/sharedStore.js';
import { agentKey, checkAgentIdentity, describeAgent, type AgentIdentity } from '../agents/agentIdentity.js';

/**
 * What an agent's hook asks before an edit tool writes, before any other
 * tool (`tool`: only its messages, R-AGT-6), or when its session ends (R-AGT-4).
 */
export interface GuardRequest {
  readonly event: 'edit' | 'tool' | 'end';
  readonly agent: AgentIdentity;
  /** The client's name as people know it: claude-code, vscode, gemini... */
  readonly client: string;
  /** Absolute paths the edit would write. */
  readonly paths: readonly string[];
}

type Verdict =
  /** `notice`: what the model should know although the edit goes on (another worktree changes the file). */
  | { readonly decision: 'allow'; readonly reason: string; readonly claimed: readonly string[]; readonly notice?: string }
  | { readonly decision: 'deny'; readonly reason: string; readonly holder: Actor; readonly resource: string; readonly expiresAt: number };

/** `context`: text for the agent's model, delivered with this answer: a notice, its new messages. */
export type GuardDecision = Verdict & { readonly context?: string };

/** A blocked edit, for the panel: who, which file, held by whom. */
export interface BlockedEdit {
  readonly at: number;
  readonly agent: AgentIdentity;
  readonly resource: string;
  readonly holder: Actor;
}

export const GUARD_PATH = '/guard';
export const AUTO_CLAIM_TTL_MS = 10 * 60_000;
const MAX_PATHS = 256;
const RECENT_BLOCKED = 10;

export interface EditGuardDeps {
  readonly store: SharedStore;
  /** Read on each decision: a window's workspace folders can change. */
  readonly projectRoot: () => string;
  readonly metrics: Metrics;
  /** The agent's live session here, if it has one: its auto claims are then the session's too. */
  readonly sessionOf?: (agent: AgentIdentity) => Actor | undefined;
  readonly ttlMs?: number;
  /** How long resolving one path may take (the root resolver's timeout: a hung mount must not stall a decision). */
  readonly pathTimeoutMs?: number;
  /** Where the agent's messages wait; absent: hooks deliver none. */
  readonly mailbox?: Mailbox;
  /** The git checkout the project root is: claims are its worktree's, and say where their holder works. */
  readonly worktree?: () => GitLayout | undefined;
  /** The same file claimed in another worktree: warn (the default), refuse, or ignore. */
  readonly acrossWorktrees?: () => AcrossWorktrees;
  /** An edit was blocked: the panel's list of blocked edits changed (nothing on disk says so). */
  readonly onBlocked?: () => void;
}

/**
 * The rules behind the agents' edit hooks: a path another agent holds is
 * denied with the holder; a free one is claimed for the agent (renewed by
 * each edit); the agent's own claims never block it. Runs in a participant,
 * or in the hook process itself over the store when no participant is live.
 */
export class EditGuard {
  private readonly blocked: BlockedEdit[] = [];

  constructor(private readonly deps: EditGuardDeps) {
    for (const name of ['guard.allowed', 'guard.denied', 'guard.released']) deps.metrics.counter(name);
  }

  get recentBlocked(): readonly BlockedEdit[] {
    return this.blocked;
  }

  async decide(request: GuardRequest): Promise<GuardDecision> {
    const verdict = await this.verdict(request);
    if (request.event === 'end') return verdict;
    // The hook runs on the agent's every tool call: its messages reach the model on its next step (R-AGT-6).
    const delivered = this.deps.mailbox ? await this.deps.mailbox.takeUndelivered(agentKey(request.agent), this.actorFor(request)) : [];
    const context = [
      verdict.decision === 'allow' ? verdict.notice : undefined,
      delivered.length > 0 ? forModel(delivered) : undefined,
    ].filter((t) => t !== undefined);
    return context.length > 0 ? { ...verdict, context: context.join('\n\n') } : verdict;
  }

  private async verdict(request: GuardRequest): Promise<Verdict> {
    if (request.event === 'tool') return { decision: 'allow', reason: 'not an edit', claimed: [] };
    if (request.event === 'end') {
      const released = await this.deps.store.releaseClaimsOf({ agentKey: agentKey(request.agent) });
      this.deps.metrics.counter('guard.released').inc(released);
      return { decision: 'allow', reason: `released ${released} claim(s) of ${describeAgent(request.agent)}`, claimed: [] };
    }
    if (request.paths.length > MAX_PATHS)
      throw new CoordinatorError('InvalidArgument', `An edit of ${request.paths.length} paths; the guard takes at most ${MAX_PATHS}`, {});
    const root = this.deps.projectRoot();
    const resources = await Promise.all(request.paths.map((p) => resourceFor(root, p, this.deps.pathTimeoutMs)));
    // How the agent named each file, when that is not its real path: the denial says both.
    const asked = new Map<string, string>();
    resources.forEach((r, i) => {
      const spelled = pathResource(root, path.resolve(request.paths[i]!)) ?? request.paths[i]!;
      if (r !== undefined && spelled !== r) asked.set(r, spelled);
    });
    const actor = this.actorFor(request);
    const across = this.deps.acrossWorktrees?.() ?? 'warn';
    const here = (c: Claim): boolean => (c.checkout ?? '') === (actor.checkout ?? '');
    // Another holder's claim this edit must wait for: in this checkout, or in any worktree under "refuse".
    const blocking = (c: Claim, resource: string): boolean =>
      !sameHolder(c.holder, actor) && overlaps(c.resource, resource) && (here(c) || across === 'refuse');
    const claims = await this.deps.store.listClaims();
    const toClaim: string[] = [];
    const renewing = new Set<string>();
    for (const resource of resources) {
      if (resource === undefined) continue;
      const mine = claims.find((c) => here(c) && sameHolder(c.holder, actor) && covers(c.resource, resource));
      if (mine) {
        // The guard's own file claim is renewed by each edit; an explicit claim is the agent's to renew.
        if (mine.holder.via === 'edit-guard' && mine.resource === resource) {
          toClaim.push(resource);
          renewing.add(resource);
        }
        continue;
      }
      const theirs = claims.find((c) => blocking(c, resource));
      if (theirs) return this.deny(request, resource, theirs, asked.get(resource));
      toClaim.push(resource);
    }
    const granted: string[] = [];
    const elsewhere: Claim[] = [];
    for (const resource of toClaim) {
      try {
        const grant = await this.deps.store.acquireClaim(resource, actor, this.deps.ttlMs ?? AUTO_CLAIM_TTL_MS, {
          acrossWorktrees: across,
        });
        // The model hears of another worktree once, when the file becomes its own, not on every edit after.
        if (!renewing.has(resource)) elsewhere.push(...(grant.elsewhere ?? []));
        granted.push(resource);
      } catch (e) {
        // Another agent won the race since we listed: this edit is the one that waits.
        if (e instanceof CoordinatorError && e.code === 'ClaimConflict') {
          const held = (await this.deps.store.listClaims()).find((c) => blocking(c, resource));
          if (held) return this.deny(request, resource, held, asked.get(resource));
        }
        throw e;
      }
    }
    this.deps.metrics.counter('guard.allowed').inc();
    const outside = resources.length - resources.filter((r) => r !== undefined).length;
    const note = outside > 0 ? `; ${outside} path(s) outside ${root} are not guarded` : '';
    return {
      decision: 'allow',
      reason:
        granted.length > 0 ? `claimed ${granted.join(', ')} for ${describeAgent(request.agent)}${note}` : `no other agent holds it${note}`,
      claimed: granted,
      ...(elsewhere.length > 0 ? { notice: alsoChangedElsewhere(elsewhere) } : {}),
    };
  }

  private deny(request: GuardRequest, resource: string, held: Claim, asked: string | undefined): Verdict {
    this.deps.metrics.counter('guard.denied').inc();
    this.blocked.unshift({ at: Date.now(), agent: request.agent, resource, holder: held.holder });
    this.blocked.length = Math.min(this.blocked.length, RECENT_BLOCKED);
    this.deps.onBlocked?.();
    return {
      decision: 'deny',
      reason: `Blocked by Session Coordinator: ${asked ? `${asked} is ${resource} here: ` : ''}${describeConflict(resource, held)}. Ask the holder to hand it to you: message_send {"to":"${inboxOf(held.holder)}"} (it can claim_transfer it), or wait for the claim to end, or work on something else.`,
      holder: held.holder,
      resource,
      expiresAt: held.expiresAt,
    };
  }

  private actorFor(request: GuardRequest): Actor {
    const session = this.deps.sessionOf?.(request.agent);
    const layout = this.deps.worktree?.();
    const where = layout ? { worktree: describeWorktree(layout), checkout: layout.worktree } : {};
    const base: Actor = session ?? {
      sessionId: `agent:${agentKey(request.agent)}`,
      clientName: request.client,
      participantId: this.deps.store.participantId,
      agent: request.agent,
      ...where,
    };
    return { ...base, agent: request.agent, via: 'edit-guard' };
  }
}

/** The claim resource for a path (its real location, R-CLM-1), or undefined when it is outside the project (not ours to guard). */
export async function resourceFor(root: string, file: string, timeoutMs?: number): Promise<string | undefined> {
  if (!path.isAbsolute(file))
    throw new CoordinatorError('InvalidArgument', `The guard needs absolute paths, got ${JSON.stringify(file)}`, { path: file });
  const resource = await fileResourceOf(root, file, timeoutMs);
  // An edit writes files under the root, never the root itself: '.' would claim the whole project.
  return resource === '.' ? undefined : resource;
}

/** A guard request from the wire (the hook's POST): checked field by field, refused with what is wrong. */
export function parseGuardRequest(value: unknown): GuardRequest {
  const v = value as Partial<Record<keyof GuardRequest, unknown>> | null;
  if (typeof v !== 'object' || v === null) throw new CoordinatorError('InvalidArgument', 'A guard request is a JSON object', {});
  if (v.event !== 'edit' && v.event !== 'tool' && v.event !== 'end')
    throw new CoordinatorError('InvalidArgument', 'event must be "edit", "tool" or "end"', {});
  if (typeof v.client !== 'string' || !/^[a-z][a-z0-9-]{0,31}$/.test(v.client))
    throw new CoordinatorError('InvalidArgument', 'client must be a short lower-case name', {});
  if (!Array.isArray(v.paths) || !v.paths.every((p) => typeof p === 'string' && p.length > 0 && p.length <= 4096)) {
    throw new CoordinatorError('InvalidArgument', 'paths must be a list of absolute paths', {});
  }
  return { event: v.event, client: v.client, agent: checkAgentIdentity(v.agent), paths: v.paths as string[] };
}
