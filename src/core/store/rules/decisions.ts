import { CoordinatorError } from '../../errors.js';
import type { Decision } from '../file/shard.js';
import type { ShardState } from '../file/shardState.js';
import { claimConflict, claimKey, notTheHolder, overlaps, sameHolder, splitClaimKey } from './claims.js';
import { entryBytes, tooManyBytes } from './limits.js';
import type { AcrossWorktrees, Actor, Claim } from '../actors.js';
import type { SetOptions, StoredValue } from '../sharedStore.js';

/**
 * What a write does given the latest state, shared by every backend that
 * keeps a ShardState: compare-and-set, and the claim rules (R-CTX-3, R-CLM).
 * Each throws a CoordinatorError an agent can act on, and writes nothing.
 */
export const MAX_VALUE_BYTES = 1024 * 1024;
export const CLAIMS_NAMESPACE = '_claims';
export const CONTROL_NAMESPACE = '_control';
/** Inboxes (R-AGT-6): written only through SharedStore.updateInbox, never by the context tools. */
export const MESSAGES_NAMESPACE = '_messages';

/** Versions as agents see them: an absent or deleted key is at version 0. */
function checkExpected(state: ShardState, key: string, options: SetOptions | undefined): number {
  const visible = state.live(key) ? state.versionOf(key) : 0;
  if (options?.expectedVersion !== undefined && options.expectedVersion !== visible)
    throw versionConflict(state.namespace, key, options.expectedVersion, visible);
  return state.versionOf(key);
}

export function versionConflict(namespace: string, key: string, expectedVersion: number, currentVersion: number): CoordinatorError {
  return new CoordinatorError(
    'VersionConflict',
    `Version conflict on ${namespace}/${key}: expected version ${expectedVersion}, current version is ${currentVersion}; read it again and retry`,
    { namespace, key, expectedVersion, currentVersion },
  );
}

export function checkValue(value: unknown, key: string): void {
  if (value === undefined) throw new CoordinatorError('InvalidArgument', `A value is required for ${key}`, { key });
  const size = Buffer.byteLength(JSON.stringify(value));
  if (size > MAX_VALUE_BYTES)
    throw new CoordinatorError('ValueTooLarge', `The value for ${key} is ${size} bytes; the limit is ${MAX_VALUE_BYTES}`, {
      key,
      size,
      limit: MAX_VALUE_BYTES,
    });
}

/** The byte quotas a write is checked against; `elsewhere`: what the store's other namespaces hold. */
export interface ByteQuota {
  readonly namespaceBytes: number;
  readonly storeBytes: number;
  elsewhere(): number;
}

/** A write that makes a namespace (or the store) hold more than its quota is refused; one that shrinks it never is. */
function checkBytes(state: ShardState, key: string, value: unknown, quota: ByteQuota | undefined): void {
  if (!quota) return;
  const current = state.live(key);
  const before = current ? entryBytes(key, current.value) : 0;
  const after = entryBytes(key, value);
  if (after <= before) return;
  const namespaceHolds = state.liveBytes - before + after;
  if (namespaceHolds > quota.namespaceBytes) throw tooManyBytes('namespace', state.namespace, key, namespaceHolds, quota.namespaceBytes);
  const storeHolds = namespaceHolds + quota.elsewhere();
  if (storeHolds > quota.storeBytes) throw tooManyBytes('store', state.namespace, key, storeHolds, quota.storeBytes);
}

function decideSet(state: ShardState, key: string, value: unknown, options?: SetOptions, quota?: ByteQuota): Decision {
  const pv = checkExpected(state, key, options);
  checkBytes(state, key, value, quota);
  return { record: { op: 'set', k: key, v: value, pv } };
}

function decideUpdate(state: ShardState, key: string, fn: (current: StoredValue | undefined) => unknown, quota?: ByteQuota): Decision {
  const next = fn(state.live(key));
  checkValue(next, key);
  checkBytes(state, key, next, quota);
  return { record: { op: 'set', k: key, v: next, pv: state.versionOf(key) } };
}

function decideDelete(state: ShardState, key: string, options?: SetOptions): Decision {
  const pv = checkExpected(state, key, options);
  return state.live(key) ? { record: { op: 'delete', k: key, pv } } : { skip: true };
}

/** An increment's delta: a whole number within what every backend (and JSON) counts exactly. */
export function checkDelta(delta: number, key: string): void {
  if (!Number.isSafeInteger(delta))
    throw new CoordinatorError('InvalidArgument', `An increment of ${key} must be a whole number (got ${delta})`, { key, delta });
}

/** What an increment makes of a value: absent counts as 0; anything but a whole number is refused, and nothing is written. */
export function incremented(namespace: string, key: string, current: unknown, delta: number): number {
  checkDelta(delta, key);
  const base = current ?? 0;
  if (typeof base !== 'number' || !Number.isSafeInteger(base))
    throw new CoordinatorError(
      'InvalidArgument',
      `${namespace}/${key} holds ${JSON.stringify(base).slice(0, 80)}, not a whole number: only a counter can be incremented; set it instead`,
      { namespace, key },
    );
  const next = base + delta;
  if (!Number.isSafeInteger(next))
    throw new CoordinatorError(
      'InvalidArgument',
      `Incrementing ${namespace}/${key} by ${delta} would leave the range of exact whole numbers`,
      {
        namespace,
        key,
      },
    );
  return next;
}

export function liveClaims(state: ShardState, now: number): Claim[] {
  const out: Claim[] = [];
  for (const [key, e] of state.entries) {
    if (e.deleted) continue;
    const c = e.value as Omit<Claim, 'resource'>;
    if (c.expiresAt > now) out.push(toClaim(key, c));
  }
  return out;
}

/**
 * `elsewhere` collects, under `warn`, the overlapping claims of other
 * worktrees; under `refuse` they conflict like claims of the same checkout.
 */
function decideAcquire(
  state: ShardState,
  resource: string,
  holder: Actor,
  ttlMs: number,
  now: number,
  across: AcrossWorktrees = 'refuse',
  elsewhere: Claim[] = [],
): Decision {
  for (const claim of liveClaims(state, now)) {
    if (sameHolder(claim.holder, holder) || !overlaps(resource, claim.resource)) continue;
    if ((claim.checkout ?? '') === (holder.checkout ?? '') || across === 'refuse') throw claimConflict(resource, claim);
    if (across === 'warn') elsewhere.push(claim);
  }
  const key = claimKey(holder.checkout, resource);
  const pv = state.versionOf(key);
  const value: Omit<Claim, 'resource'> = { holder, fencingToken: pv + 1, acquiredAt: now, expiresAt: now + ttlMs };
  return { record: { op: 'set', k: key, v: value, pv } };
}

function heldClaim(state: ShardState, key: string, fencingToken: number, now: number, by: Actor | undefined): Claim {
  const { resource } = splitClaimKey(key);
  const entry = state.live(key);
  const claim = entry ? toClaim(key, entry.value) : undefined;
  if (claim && fencingToken < claim.fencingToken) {
    throw new CoordinatorError(
      'StaleFencingToken',
      `Fencing token ${fencingToken} for ${resource} is older than the current grant (${claim.fencingToken}); your claim was lost and re-granted`,
      { resource, fencingToken, currentToken: claim.fencingToken },
    );
  }
  if (!claim || claim.fencingToken !== fencingToken || claim.expiresAt <= now) {
    throw new CoordinatorError(
      'ClaimNotHeld',
      `You do not hold ${resource} with fencing token ${fencingToken} (it expired or was released); acquire it again`,
      { resource, fencingToken },
    );
  }
  // A token is visible to everyone (claim_list): it proves the grant, not who may end it.
  if (by && !sameHolder(claim.holder, by)) throw notTheHolder(resource, fencingToken, claim);
  return claim;
}

function decideRenew(state: ShardState, resource: string, fencingToken: number, ttlMs: number, now: number, by: Actor): Decision {
  const key = claimKey(by.checkout, resource);
  const claim = heldClaim(state, key, fencingToken, now, by);
  const { resource: _r, checkout: _c, ...value } = claim;
  return { record: { op: 'set', k: key, v: { ...value, expiresAt: now + ttlMs }, pv: state.versionOf(key) } };
}

/**
 * A handoff (R-AGT-6): the holder gives its grant to another agent, with a new,
 * larger fencing token, so a write fenced by the old one is refused. Refused
 * when the recipient would overlap what a third holder has.
 */
function decideTransfer(
  state: ShardState,
  resource: string,
  fencingToken: number,
  to: Actor,
  ttlMs: number,
  now: number,
  by: Actor,
): Decision {
  // The recipient's worktree first: the Redis script is told only of one checkout.
  if ((to.checkout ?? '') !== (by.checkout ?? '')) throw otherWorktree(resource, to);
  const key = claimKey(by.checkout, resource);
  heldClaim(state, key, fencingToken, now, by);
  for (const claim of liveClaims(state, now)) {
    if (
      (claim.checkout ?? '') === (by.checkout ?? '') &&
      claim.resource !== resource &&
      !sameHolder(claim.holder, to) &&
      overlaps(resource, claim.resource)
    )
      throw claimConflict(resource, claim);
  }
  const pv = state.versionOf(key);
  const value: Omit<Claim, 'resource'> = { holder: to, fencingToken: pv + 1, acquiredAt: now, expiresAt: now + ttlMs };
  return { record: { op: 'set', k: key, v: value, pv } };
}

export function otherWorktree(resource: string, to: Actor): CoordinatorError {
  return new CoordinatorError(
    'InvalidArgument',
    `The recipient works in another worktree (${to.worktree ?? to.checkout ?? 'none'}); a claim moves within one worktree: release ${resource} and let the recipient claim it in its own`,
    { resource },
  );
}

/** `by` undefined: a revocation by a person, checked against the token only, in the checkout they saw. */
function decideRelease(
  state: ShardState,
  resource: string,
  fencingToken: number,
  now: number,
  by: Actor | undefined,
  checkout?: string,
): Decision {
  const key = claimKey(by ? by.checkout : checkout, resource);
  heldClaim(state, key, fencingToken, now, by);
  return { record: { op: 'delete', k: key, pv: state.versionOf(key) } };
}

/** A write as data: what a backend asks of a namespace, decided against its latest state by decide(). */
export type WriteOp =
  | { readonly kind: 'set'; readonly key: string; readonly value: unknown; readonly options?: SetOptions }
  /** The one kind that is not data: `fn` runs where the state is, so it is decided in the calling process. */
  | { readonly kind: 'update'; readonly key: string; readonly fn: (current: StoredValue | undefined) => unknown }
  | { readonly kind: 'delete'; readonly key: string; readonly options?: SetOptions }
  | { readonly kind: 'increment'; readonly key: string; readonly delta: number }
  | {
      readonly kind: 'acquire';
      readonly resource: string;
      readonly holder: Actor;
      readonly ttlMs: number;
      readonly across?: AcrossWorktrees;
    }
  | { readonly kind: 'renew'; readonly resource: string; readonly fencingToken: number; readonly ttlMs: number; readonly by: Actor }
  /** `by` absent: a revocation by a person, in the checkout they saw. */
  | { readonly kind: 'release'; readonly resource: string; readonly fencingToken: number; readonly by?: Actor; readonly checkout?: string }
  | {
      readonly kind: 'transfer';
      readonly resource: string;
      readonly fencingToken: number;
      readonly to: Actor;
      readonly ttlMs: number;
      readonly by: Actor;
    };

export interface DecideContext {
  readonly now: number;
  readonly quota?: ByteQuota;
  /** Filled by an `acquire` under `warn`: the overlapping claims of other worktrees. */
  readonly elsewhere?: Claim[];
}

/** What `op` writes given the latest state, or a CoordinatorError: the one entry point every backend that keeps a ShardState uses. */
export function decide(state: ShardState, op: WriteOp, context: DecideContext): Decision {
  const { now, quota } = context;
  switch (op.kind) {
    case 'set':
      return decideSet(state, op.key, op.value, op.options, quota);
    case 'update':
      return decideUpdate(state, op.key, op.fn, quota);
    case 'delete':
      return decideDelete(state, op.key, op.options);
    case 'increment': {
      const value = incremented(state.namespace, op.key, state.live(op.key)?.value, op.delta);
      checkBytes(state, op.key, value, quota);
      return { record: { op: 'set', k: op.key, v: value, pv: state.versionOf(op.key) } };
    }
    case 'acquire':
      context.elsewhere?.splice(0);
      return decideAcquire(state, op.resource, op.holder, op.ttlMs, now, op.across, context.elsewhere);
    case 'renew':
      return decideRenew(state, op.resource, op.fencingToken, op.ttlMs, now, op.by);
    case 'release':
      return decideRelease(state, op.resource, op.fencingToken, now, op.by, op.checkout);
    case 'transfer':
      return decideTransfer(state, op.resource, op.fencingToken, op.to, op.ttlMs, now, op.by);
  }
}

/** A claim from its store key and value. */
export function toClaim(key: string, value: unknown): Claim {
  const { resource, checkout } = splitClaimKey(key);
  return { resource, ...(checkout ? { checkout } : {}), ...(value as Omit<Claim, 'resource' | 'checkout'>) };
}
