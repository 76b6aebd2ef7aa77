import { mkdtempSync, realpathSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

/** A real temp folder (real path, so symlinked /tmp does not confuse containment checks). */
export function tempDir(prefix = 'sc-test-'): { path: string; remove(): Promise<void> } {
  const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), prefix)));
  return { path: dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** A workspace and a coordinator install folder for one test, removed by `cleanup`. */
export function workspaceAndHome(cleanup: Array<() => Promise<unknown>>): { ws: string; home: string } {
  const ws = tempDir();
  const home = tempDir();
  cleanup.push(ws.remove, home.remove);
  return { ws: ws.path, home: home.path };
}
