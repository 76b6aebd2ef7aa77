import * as path from 'node:path';
import { connectArgs } from '../../core/agents/clientSetup.js';
import { CLIENTS, clientConfig, isClientName } from '../../core/clientConfig.js';
import { namedInstallDir } from '../../core/install/installState.js';
import { EXIT, UsageError } from '../usage.js';

export function config(client: string | undefined, options: { workspace: string }): number {
  if (client === undefined) throw new UsageError(`config needs a client: one of ${CLIENTS.join(', ')}`);
  if (!isClientName(client)) throw new UsageError(`unknown client ${JSON.stringify(client)}: config takes one of ${CLIENTS.join(', ')}`);
  const workspace = path.resolve(options.workspace);
  const installHome = namedInstallDir();
  const launch = {
    command: process.execPath,
    args: [path.resolve(process.argv[1] ?? 'session-coordinator'), ...connectArgs({ workspace, installHome })],
  };
  const { file, json, toml } = clientConfig(client, launch);
  // Only the config on stdout, so `config claude-code > .mcp.json` works; the hint goes to stderr.
  // The setup line that writes the same: this workspace and install, and --global for a file outside the project.
  const arg = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : JSON.stringify(s));
  const setup = [`setup ${client} --workspace ${arg(workspace)}`, ...(installHome ? [`--home ${arg(installHome)}`] : [])];
  if (client === 'cline' || client === 'codex') setup.push('--global');
  process.stderr.write(`Paste into ${file} (or run: session-coordinator ${setup.join(' ')})\n`);
  process.stdout.write(toml ?? `${JSON.stringify(json, null, 2)}\n`);
  return EXIT.ok;
}
