// Baseline stdio server: a plain McpServer with the same whoami on the SDK's StdioServerTransport.
import { randomUUID } from 'node:crypto';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createBareServer, newBareSession } from './bareWhoami.js';

const root = process.argv[2] ?? process.cwd();
// The closures run only once a client calls whoami, after `session` is set.
const mcp = createBareServer(
  root,
  'stdio',
  () => session,
  () => [session],
);
const session = newBareSession(randomUUID(), mcp);
void mcp.connect(new StdioServerTransport());
process.stdin.once('end', () => process.exit(0));
