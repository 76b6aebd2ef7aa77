// A killable HTTP agent: connects with the SDK client (which holds a GET stream),
// claims a resource, prints "ready <sessionId>" and waits to be killed.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const [url, token, resource] = process.argv.slice(2);
async function main(): Promise<void> {
  const client = new Client({ name: 'killable-http-agent', version: '1' });
  const transport = new StreamableHTTPClientTransport(new URL(url!), { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
  await client.connect(transport);
  const me = await client.callTool({ name: 'whoami', arguments: {} });
  const claim = await client.callTool({ name: 'claim_acquire', arguments: { resource, ttlSeconds: 600 } });
  if (claim.isError) throw new Error(JSON.stringify(claim.content));
  // Give the client's GET stream a moment to be granted before we report ready.
  await new Promise((r) => setTimeout(r, 200));
  process.stdout.write(`ready ${(me.structuredContent as { sessionId: string }).sessionId}\n`);
  setInterval(() => undefined, 1 << 30);
}

void main();
