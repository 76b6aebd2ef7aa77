import * as http from 'node:http';
import { TOKEN } from './processes.js';

export const ACCEPT = 'application/json, text/event-stream';

export function initializeBody(id: number | string = 1, name = 'raw'): unknown {
  return {
    jsonrpc: '2.0',
    id,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name, version: '1' } },
  };
}

export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  /** JSON-RPC messages, from a JSON body or from SSE data lines. */
  messages: Array<Record<string, unknown>>;
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<RawResponse> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: ACCEPT, Authorization: `Bearer ${TOKEN}`, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return read(res);
}

export async function read(res: Response): Promise<RawResponse> {
  const text = await res.text();
  const messages: Array<Record<string, unknown>> = [];
  if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    for (const line of text.split('\n')) if (line.startsWith('data: ') && line.length > 6) messages.push(JSON.parse(line.slice(6)));
  } else if (text) {
    try {
      const parsed = JSON.parse(text);
      messages.push(...(Array.isArray(parsed) ? parsed : [parsed]));
    } catch {
      // Left for the caller to assert on: a non-JSON body is itself a failure.
    }
  }
  return { status: res.status, headers: res.headers, text, messages };
}

/** Opens a session with raw requests and returns its Mcp-Session-Id. */
export async function openRawSession(url: string, name = 'raw'): Promise<string> {
  const init = await post(url, initializeBody(1, name));
  const id = init.headers.get('mcp-session-id');
  if (init.status !== 200 || !id) throw new Error(`initialize failed: ${init.status} ${init.text}`);
  await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-session-id': id, 'mcp-protocol-version': '2025-06-18' });
  return id;
}

export interface LowLevelRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** false: send no Host header at all (fetch always sends one). */
  setHost?: boolean;
}

/** node:http directly, for requests fetch will not send (no Host, a foreign Host). */
export function lowLevel(url: string, req: LowLevelRequest): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const r = http.request(
      {
        host: u.hostname,
        port: u.port,
        method: req.method ?? 'POST',
        path: req.path ?? u.pathname,
        headers: req.headers ?? {},
        setHost: req.setHost ?? true,
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
        res.on('error', reject);
      },
    );
    r.on('error', reject);
    if (req.body !== undefined) r.end(req.body);
    else r.end();
  });
}
