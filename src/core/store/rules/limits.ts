// What a store may hold, whatever the backend: namespace names, the size of one value, and the quotas (R-SEC-1).
import { CoordinatorError } from '../../errors.js';

const NAMESPACE = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/**
 * Namespaces name folders on disk and keys on servers: a small safe alphabet,
 * no leading dot or underscore, and lower case only, so that "Notes" and
 * "notes" are never one folder on one disk and two on another (R-SEC-7).
 */
export function validateNamespace(namespace: string): string {
  if (!NAMESPACE.test(namespace)) {
    if (typeof namespace === 'string' && NAMESPACE.test(namespace.toLowerCase())) {
      throw new CoordinatorError(
        'InvalidArgument',
        `Namespace ${JSON.stringify(namespace)} has upper-case letters: namespaces are lower case, because some disks ignore case and others do not; use ${JSON.stringify(namespace.toLowerCase())}`,
        { namespace },
      );
    }
    throw new CoordinatorError(
      'InvalidArgument',
      `Namespace ${JSON.stringify(namespace)} is not valid: use 1-64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit`,
      { namespace },
    );
  }
  return namespace;
}

export function isNamespace(name: string): boolean {
  return NAMESPACE.test(name);
}

/** Most namespaces one store holds (R-SEC-1): each is a folder and an open file in every participant. */
export const DEFAULT_MAX_NAMESPACES = 256;

/** The quotas of one store (R-SEC-1): settings, the same for every backend. */
export interface StoreQuotas {
  /** Most namespaces; a write that would create one more is refused. */
  maxNamespaces: number;
  /** Most bytes of live keys and values one namespace, and the whole store, hold. */
  maxNamespaceBytes: number;
  maxStoreBytes: number;
}

/** Bytes one namespace, and the whole store, may hold in live values (R-SEC-1): keys plus their JSON. */
export const DEFAULT_MAX_NAMESPACE_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MAX_STORE_BYTES = 256 * 1024 * 1024;

/** The quotas every backend starts from. */
export const DEFAULT_STORE_QUOTAS: StoreQuotas = {
  maxNamespaces: DEFAULT_MAX_NAMESPACES,
  maxNamespaceBytes: DEFAULT_MAX_NAMESPACE_BYTES,
  maxStoreBytes: DEFAULT_MAX_STORE_BYTES,
};

/** What one live entry counts against the byte quotas. */
export function entryBytes(key: string, value: unknown): number {
  return Buffer.byteLength(key) + Buffer.byteLength(JSON.stringify(value) ?? '');
}

const mib = (bytes: number): string =>
  bytes >= 1024 * 1024
    ? `${(bytes / (1024 * 1024)).toFixed(1)} MiB`
    : bytes >= 1024
      ? `${(bytes / 1024).toFixed(1)} KiB`
      : `${bytes} bytes`;

export function tooManyBytes(
  scope: 'namespace' | 'store',
  namespace: string,
  key: string,
  wouldHold: number,
  limit: number,
): CoordinatorError {
  const where = scope === 'namespace' ? `Namespace ${JSON.stringify(namespace)}` : 'The store';
  return new CoordinatorError(
    'QuotaExceeded',
    `${where} would hold ${mib(wouldHold)} with ${namespace}/${key}; the limit is ${mib(limit)}${scope === 'namespace' ? ' per namespace' : ' for the whole store'}. Delete or shrink values you no longer need; reads are not affected`,
    { scope, namespace, key, bytes: wouldHold, limit },
  );
}

export function tooManyNamespaces(namespace: string, count: number, limit: number): CoordinatorError {
  return new CoordinatorError(
    'QuotaExceeded',
    `Namespace ${JSON.stringify(namespace)} would be one too many: the store holds ${count} namespaces, the most it may hold (${limit}). Write into an existing namespace; reads are not affected`,
    { namespace, namespaces: count, limit },
  );
}

export function validateKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0 || key.length > 512) {
    throw new CoordinatorError('InvalidArgument', `Key must be 1-512 characters, got ${JSON.stringify(key)?.slice(0, 40)}`, { key });
  }
}
