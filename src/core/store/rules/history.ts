import { CoordinatorError } from '../../errors.js';
import type { ChangeEvent, HistoryPage } from '../sharedStore.js';
import { validateNamespace } from './limits.js';

/**
 * The event log as agents page through it (R-CTX-5), the same in every
 * backend: a page size clamped to 1-1000, a cursor of the last seq seen per
 * namespace, namespaces merged oldest first, and a session filter. A backend
 * only reads one namespace's records after a seq.
 */
export interface HistoryOptions {
  namespace?: string;
  cursor?: string;
  limit?: number;
  sessionId?: string;
}

export async function historyPage(
  options: HistoryOptions,
  namespaces: () => Promise<string[]>,
  readNamespace: (namespace: string, afterSeq: number, limit: number) => Promise<ChangeEvent[]>,
): Promise<HistoryPage> {
  const limit = Math.min(Math.max(options.limit ?? 100, 1), 1000);
  const cursor = decodeCursor(options.cursor);
  const names = options.namespace !== undefined ? [validateNamespace(options.namespace)] : await namespaces();
  const records = mergeHistory(await Promise.all(names.map((n) => readNamespace(n, cursor[n] ?? 0, limit))), limit);
  const mine = options.sessionId === undefined ? records : records.filter((r) => r.by.sessionId === options.sessionId);
  return { records: mine, nextCursor: encodeCursor(cursor, records) };
}

/** History cursors: the last seq seen per namespace, opaque to agents. */
function decodeCursor(cursor: string | undefined): Record<string, number> {
  if (!cursor) return {};
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && Object.values(parsed).every((v) => Number.isInteger(v)))
      return parsed as Record<string, number>;
  } catch {
    // Reported below.
  }
  throw new CoordinatorError(
    'InvalidArgument',
    'That history cursor is not one this coordinator issued; pass the nextCursor of a previous page, or none to start from the oldest record',
    { cursor },
  );
}

function encodeCursor(previous: Record<string, number>, records: readonly ChangeEvent[]): string {
  const next = { ...previous };
  for (const r of records) next[r.namespace] = Math.max(next[r.namespace] ?? 0, r.seq);
  return Buffer.from(JSON.stringify(next)).toString('base64url');
}

/** Oldest first across namespaces; within one namespace, log order. */
function mergeHistory(perNamespace: ChangeEvent[][], limit: number): ChangeEvent[] {
  const all = perNamespace.flat();
  all.sort((a, b) => a.at - b.at || a.namespace.localeCompare(b.namespace) || a.seq - b.seq);
  // A namespace's records must stay in seq order even if clocks disagree: cut each namespace at its first skipped record.
  const taken = all.slice(0, limit);
  const maxSeq = new Map<string, number>();
  for (const r of taken) maxSeq.set(r.namespace, Math.max(maxSeq.get(r.namespace) ?? 0, r.seq));
  return all
    .filter((r) => r.seq <= (maxSeq.get(r.namespace) ?? -1))
    .sort((a, b) => a.at - b.at || a.namespace.localeCompare(b.namespace) || a.seq - b.seq);
}
