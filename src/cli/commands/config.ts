import * as path from 'node:path';
import { connectArgs } from '../../core/agents/clientSetup.js';
import { CLIENTS, clientConfig, isClientName } from '../../core/clientConfig.js';
import { namedInstallDir } from '../../core/install/installState.js';
import { EXIT, UsageError } from '../usage.js';

export function config(client: string | undefined, options: { workspace: string }): number {
  if (client === undefined || !isClientName(client)) {
    throw new UsageError(`config needs a client: one of ${CLIENTS.join(', ')}`);
  }
  const workspace = path.resolve(options.workspace);
  const launch = {
    command: process.execPath,
    args: [path.resolve(process.argv[1] ?? 'session-coordinator'), ...connectArgs({ workspace, installHome: namedInstallDir() })],
  };
  const { file, json, toml } = clientConfig(client, launch);
  // Only the config on stdout, so `config claude-code > .mcp.json` works; the hint goes to stderr.
  process.stderr.write(`Paste into ${file} (or run: session-coordinator setup ${client})\n`);
  process.stdout.write(toml ?? `${JSON.stringify(json, null, 2)}\n`);
  return EXIT.ok;
}
