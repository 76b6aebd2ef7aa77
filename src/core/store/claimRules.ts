import * as path from 'node:path';
import { CoordinatorError } from '../errors.js';

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
