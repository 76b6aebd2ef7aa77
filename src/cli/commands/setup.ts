import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { applySetup } from '../../core/agents/applySetup.js';
import { isSetupClient, SETUP_CLIENTS, setupPlan } from '../../core/agents/clientSetup.js';
import { namedInstallDir } from '../../core/install/installState.js';
import { EXIT, UsageError } from '../usage.js';

/**
 * `setup <client>`: writes or merges the client's MCP entry and its edit-guard
 * hook into the project (R-AGT-3). One line per file on stdout; notes on stderr.
 */
export async function setup(client: string | undefined, options: { workspace: string; dryRun: boolean; global: boolean }): Promise<number> {
  if (client === undefined) throw new UsageError(`setup needs a client: one of ${SETUP_CLIENTS.join(', ')}`);
  if (!isSetupClient(client))
    throw new UsageError(`unknown client ${JSON.stringify(client)}: setup takes one of ${SETUP_CLIENTS.join(', ')}`);
  const workspace = path.resolve(options.workspace);
  const stat = await fs.stat(workspace).catch(() => undefined);
  if (!stat?.isDirectory()) throw new UsageError(`--workspace ${workspace} is not a folder`);
  const plan = setupPlan(client, {
    workspace,
    node: process.execPath,
    cli: path.resolve(process.argv[1] ?? 'session-coordinator'),
    home: os.homedir(),
    global: options.global,
    installHome: namedInstallDir(),
  });
  const results = await applySetup(plan, { dryRun: options.dryRun, global: options.global });
  const shown = (file: string): string => (file.startsWith(workspace + path.sep) ? path.relative(workspace, file) : file);
  for (const r of results) {
    const what = r.changed.length ? ` (${r.changed.join(', ')})` : '';
    const verb = options.dryRun && (r.action === 'created' || r.action === 'updated') ? `would be ${r.action}` : r.action;
    process.stdout.write(`${verb} ${shown(r.file)}${what}\n`);
    if (r.action === 'skipped' || (options.dryRun && r.action !== 'unchanged')) process.stdout.write(r.text.replace(/^/gm, '    ') + '\n');
  }
  for (const note of plan.notes) process.stderr.write(`note: ${note}\n`);
  return EXIT.ok;
}
