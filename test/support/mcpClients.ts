import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { TOKEN } from './processes.js';

export async function httpClient(
  url: string,
  name = 'test-http',
  token = TOKEN,
): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name, version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
  await client.connect(transport);
  return { client, transport };
}

export interface WhoAmI {
  sessionId: string;
  resumeHandle?: string;
  root: string;
  client: { name: string; version: string };
  transport: string;
  state: string;
  tags: string[];
  parentId?: string;
  childIds: string[];
  requestCount: number;
  isDefault: boolean;
  pid: number;
  peers: Array<{ sessionId: string; client: { name: string }; transport: string; state: string }>;
}

export async function whoami(client: Client): Promise<WhoAmI> {
  const result = await client.callTool({ name: 'whoami', arguments: {} });
  if (result.isError) throw new Error(`whoami failed: ${JSON.stringify(result.content)}`);
  return result.structuredContent as unknown as WhoAmI;
}
