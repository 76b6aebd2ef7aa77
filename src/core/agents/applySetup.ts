import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { CoordinatorError, errorMessage } from '../errors.js';
import type { SetupPlan } from './clientSetup.js';

export interface SetupResult {
  readonly file: string;
  /** skipped: outside the project, and not asked to write there (--global). */
  readonly action: 'created' | 'updated' | 'unchanged' | 'skipped';
  readonly changed: readonly string[];
  /** The file as it would be after setup: shown for a dry run and for a skipped file. */
  readonly text: string;
}

/**
 * Applies a setup plan: every file is read and every edit computed first, so
 * one broken file stops the whole setup before anything is written; each file
 * is then written whole (a temp file in its folder, renamed over it).
 */
export async function applySetup(plan: SetupPlan, options: { dryRun: boolean; global: boolean }): Promise<SetupResult[]> {
  const results: Array<SetupResult & { mode?: number }> = [];
  for (const edit of plan.edits) {
    const current = await readIfThere(edit.file);
    const { text, changed } = edit.edit(current);
    const action =
      edit.global && !options.global ? 'skipped' : current === undefined ? 'created' : text === current ? 'unchanged' : 'updated';
    results.push({
      file: edit.file,
      action,
      changed: action === 'unchanged' ? [] : changed,
      text,
      ...(edit.mode !== undefined ? { mode: edit.mode } : {}),
    });
  }
  if (!options.dryRun) {
    for (const r of results) if (r.action === 'created' || r.action === 'updated') await writeWhole(r.file, r.text, r.mode);
  }
  return results.map(({ mode: _mode, ...r }) => r);
}

async function readIfThere(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CoordinatorError('WriteFailed', `Cannot read ${file}: ${errorMessage(e)}`, { file });
  }
}

async function writeWhole(file: string, text: string, mode = 0o644): Promise<void> {
  const temp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(temp, text, { mode });
    await fs.rename(temp, file);
  } catch (e) {
    await fs.rm(temp, { force: true }).catch(() => undefined);
    throw new CoordinatorError('WriteFailed', `Cannot write ${file}: ${errorMessage(e)}`, { file });
  }
}
