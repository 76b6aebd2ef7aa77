// Baseline HTTP server: the bare SDK, as its README shows it, on node:http.
// One McpServer + StreamableHTTPServerTransport per session, SSE response mode
// (the SDK default, as ours), 127.0.0.1, port 0, no auth, no Host/Origin checks.
// The body is read and parsed first, as express.json() would, and passed to
// handleRequest (ours passes a parsed body too).
// Prints "Bare MCP listening on http://127.0.0.1:PORT/mcp" on stderr.
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { createBareServer, newBareSession, type BareSession } from './bareWhoami.js';

const root = process.argv[2] ?? process.cwd();
const transports = new Map<string, StreamableHTTPServerTransport>();
const sessions = new Map<string, BareSession>();

function readBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (e) {
        reject(e);
      }
    });
    req.on('error', reject);
  });
}

function fail(res: http.ServerResponse, status: number, message: string): void {
  res
    .writeHead(status, { 'Content-Type': 'application/json' })
    .end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
}

const server = http.createServer(async (req, res) => {
  try {
    const body = req.method === 'POST' ? await readBody(req) : undefined;
    const header = req.headers['mcp-session-id'];
    const sessionId = Array.isArray(header) ? header[0] : header;
    if (sessionId !== undefined) {
      const transport = transports.get(sessionId);
      if (!transport) return fail(res, 404, 'Session not found');
      await transport.handleRequest(req, res, body);
      return;
    }
    if (req.method !== 'POST' || !isInitializeRequest(body)) return fail(res, 400, 'Bad Request: No valid session ID provided');
    let session: BareSession | undefined;
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        transports.set(id, transport);
        session = newBareSession(id, mcp);
        sessions.set(id, session);
      },
    });
    transport.onclose = () => {
      const id = transport.sessionId;
      if (id !== undefined) {
        transports.delete(id);
        sessions.delete(id);
      }
    };
    const mcp = createBareServer(
      root,
      'http',
      () => session,
      () => sessions.values(),
    );
    await mcp.connect(transport);
    await transport.handleRequest(req, res, body);
  } catch {
    if (!res.headersSent) fail(res, 500, 'Internal error');
    else res.end();
  }
});

server.listen(0, '127.0.0.1', () => {
  process.stderr.write(`Bare MCP listening on http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp\n`);
});
process.on('SIGTERM', () => {
  for (const t of transports.values()) void t.close();
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
