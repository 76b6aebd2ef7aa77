import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A scripted model's HTTP plumbing: a loopback server that hands each request its whole body. */
export async function startLoopback(
  handle: (req: http.IncomingMessage, res: http.ServerResponse, url: URL, body: string) => void,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => handle(req, res, new URL(req.url ?? '/', 'http://127.0.0.1'), body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The body as JSON, or undefined after answering 400. */
export function jsonOr400<T>(body: string, res: http.ServerResponse): T | undefined {
  try {
    return JSON.parse(body) as T;
  } catch {
    res.writeHead(400).end();
    return undefined;
  }
}
