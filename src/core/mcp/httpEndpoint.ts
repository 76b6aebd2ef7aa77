import { randomUUID, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { ErrorCode, isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Coordinator } from '../coordinator.js';
import { GUARD_PATH, parseGuardRequest } from '../guard/editGuard.js';
import { CoordinatorError, errorMessage } from '../errors.js';
import { LOOPBACK_NAMES, NONCE, PROOF_PATH, proofOf, tokenDigest } from '../install/peerProof.js';
import { COORDINATOR_ERROR } from './jsonRpc.js';
import { AGENT_HEADER, parseAgentHeader } from '../agents/agentIdentity.js';
import type { Connection } from './connection.js';
import type { McpHost } from './mcpHost.js';

export interface HttpEndpointOptions {
  /** 0 picks a free port. */
  port: number;
  token: string;
  /** Where a client finds the token (installState.tokenPlace), named in a 401; never the token. */
  tokenPlace?: string;
  maxBodyBytes: number;
}

export const MCP_PATH = '/mcp';
/** Sent by `session-coordinator connect`, so its sessions show as relayed stdio, not plain HTTP. */
export const RELAY_HEADER = 'x-session-coordinator-relay';
export const STATUS_PATH = '/status';
/** How often an idle SSE stream gets a comment line (why not the SDK's 15 s: where the transport is made). */
export const SSE_KEEP_ALIVE_MS = 60_000;

class HttpFailure extends Error {
  constructor(
    readonly status: number,
    readonly rpcCode: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

function hostnameOf(value: string): string | undefined {
  try {
    return new URL(value.includes('://') ? value : `http://${value}`).hostname;
  } catch {
    return undefined;
  }
}

/**
 * Streamable HTTP on loopback, with what the SDK leaves to us (R-MCP-2,
 * R-MCP-4): Host and Origin checks, a bearer token, 404 for unknown
 * sessions, a body limit, and JSON-RPC errors only (no HTML, no stacks).
 */
export class HttpEndpoint {
  private readonly server: http.Server;
  private readonly transports = new Map<string, { transport: StreamableHTTPServerTransport; connection: Connection }>();
  private readonly tokenDigest: Buffer;
  private readonly watchedSockets = new WeakSet<Socket>();
  private boundPort = 0;

  constructor(
    private readonly mcpHost: McpHost,
    private readonly coordinator: Coordinator,
    private readonly options: HttpEndpointOptions,
  ) {
    this.tokenDigest = tokenDigest(options.token);
    // Without a Host header Node would answer a bare 400 itself; we answer it with a clear 403.
    this.server = http.createServer({ requireHostHeader: false }, (req, res) => void this.handle(req, res));
    this.server.on('clientError', (_err, socket) => socket.destroy());
    coordinator.metrics.gauge('http.sessions', () => this.transports.size);
  }

  get url(): string {
    return `http://127.0.0.1:${this.boundPort}${MCP_PATH}`;
  }

  get port(): number {
    return this.boundPort;
  }

  /** Live HTTP transports: returns to zero once every session has ended. */
  get openTransports(): number {
    return this.transports.size;
  }

  listen(): Promise<string> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, '127.0.0.1', () => {
        this.server.off('error', reject);
        this.boundPort = (this.server.address() as AddressInfo).port;
        resolve(this.url);
      });
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.transports.values()].map(({ transport }) => transport.close().catch(() => undefined)));
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      this.checkHostAndOrigin(req);
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const path = url.pathname;
      if (path === PROOF_PATH) {
        this.answerProof(req, res);
        return;
      }
      if (path !== MCP_PATH && path !== STATUS_PATH && path !== GUARD_PATH)
        throw new HttpFailure(404, COORDINATOR_ERROR, `Not found: ${path}; the MCP endpoint is ${MCP_PATH}`);
      this.checkToken(req);
      if (path === STATUS_PATH) {
        if (req.method !== 'GET') throw new HttpFailure(405, COORDINATOR_ERROR, 'Method not allowed', { Allow: 'GET' });
        // ?workspace=<folder>: that folder's project (a second workspace folder has its own claims and store).
        const workspace = url.searchParams.get('workspace');
        this.sendJson(res, 200, await (workspace ? this.coordinator.snapshotOf(workspace) : this.coordinator.snapshot()));
        return;
      }
      if (path === GUARD_PATH) {
        await this.handleGuard(req, res);
        return;
      }
      await this.handleMcp(req, res);
    } catch (e) {
      const failure = e instanceof HttpFailure ? e : undefined;
      if (!failure) this.coordinator.logger.error(`HTTP ${req.method} ${req.url} failed: ${errorMessage(e)}`);
      this.coordinator.metrics.counter(failure ? 'http.refused' : 'http.internalErrors').inc();
      if (res.headersSent) {
        res.end();
        return;
      }
      const status = failure?.status ?? 500;
      const message = failure?.message ?? 'Internal error in the session coordinator; see its log';
      this.sendJson(
        res,
        status,
        { jsonrpc: '2.0', error: { code: failure?.rpcCode ?? ErrorCode.InternalError, message }, id: null },
        failure?.headers,
      );
      // Whatever of the body is still coming is not ours to read.
      if (!req.complete) req.on('end', () => undefined).resume();
    }
  }

  /** Without the token (that is the point): proves to a client that we hold it, before it sends it (R-SEC-5). */
  private answerProof(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.method !== 'GET') throw new HttpFailure(405, COORDINATOR_ERROR, 'Method not allowed', { Allow: 'GET' });
    const nonce = new URL(req.url ?? '/', 'http://127.0.0.1').searchParams.get('nonce') ?? '';
    if (!NONCE.test(nonce)) throw new HttpFailure(400, COORDINATOR_ERROR, 'Bad Request: nonce must be 32 to 128 lower-case hex characters');
    this.sendJson(res, 200, { proof: proofOf(this.tokenDigest, nonce) });
  }

  /** One edit-guard decision for an agent's hook (R-AGT-4); bad requests get a 400 that says what is wrong. */
  private async handleGuard(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method !== 'POST') throw new HttpFailure(405, COORDINATOR_ERROR, 'Method not allowed', { Allow: 'POST' });
    let request;
    try {
      request = parseGuardRequest(await this.readJson(req));
    } catch (e) {
      if (e instanceof CoordinatorError) throw new HttpFailure(400, ErrorCode.InvalidParams, e.message);
      throw e;
    }
    const decision = await this.coordinator.decideEdit(request);
    const log = decision.decision === 'deny' ? 'warn' : 'info';
    this.coordinator.logger[log](
      `Edit guard: ${decision.decision} ${request.client} ${request.event} of ${request.paths.length} path(s): ${decision.reason}`,
    );
    this.sendJson(res, 200, decision);
  }

  private async handleMcp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? '';
    if (method !== 'POST' && method !== 'GET' && method !== 'DELETE') {
      throw new HttpFailure(405, COORDINATOR_ERROR, 'Method not allowed', { Allow: 'GET, POST, DELETE' });
    }
    const body = method === 'POST' ? await this.readJson(req) : undefined;
    const header = req.headers['mcp-session-id'];
    const sessionId = Array.isArray(header) ? header[0] : header;
    if (sessionId !== undefined) {
      const entry = this.transports.get(sessionId);
      // The spec's answer to an unknown or ended session is 404, which tells the client to start over.
      if (!entry) throw new HttpFailure(404, -32001, `Session not found: ${sessionId} (it ended or expired); initialize a new session`);
      if (method === 'GET') this.watchStream(entry.connection, res);
      else this.watchRelaySocket(entry.connection, req);
      await entry.transport.handleRequest(req, res, body);
      return;
    }
    const isInit = method === 'POST' && (Array.isArray(body) ? body.some((m) => isInitializeRequest(m)) : isInitializeRequest(body));
    if (!isInit)
      throw new HttpFailure(
        400,
        COORDINATOR_ERROR,
        'Bad Request: Mcp-Session-Id header is required (only initialize may come without one)',
      );
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      // The SDK's 15 s is for proxies; on loopback the only idle limit is the client's own (undici's body timeout,
      // 300 s), and each comment wakes the host (~0.5 ms CPU measured with 10 idle sessions: issue 11, idle-cpu).
      keepAliveMs: SSE_KEEP_ALIVE_MS,
      onsessioninitialized: (id) => {
        // Called from handleRequest below, after attach has returned the connection.
        this.transports.set(id, { transport, connection });
      },
    });
    const connection: Connection = await this.mcpHost.attach(
      transport,
      req.headers[RELAY_HEADER] ? 'relay' : 'http',
      randomUUID(),
      parseAgentHeader(req.headers[AGENT_HEADER]),
    );
    this.watchRelaySocket(connection, req);
    const sdkOnClose = connection.onclose;
    connection.onclose = () => {
      if (transport.sessionId !== undefined) this.transports.delete(transport.sessionId);
      sdkOnClose?.();
    };
    try {
      await transport.handleRequest(req, res, body);
    } finally {
      // The SDK refused the initialize (406 without text/event-stream, 415, a batch...):
      // no session id, nobody can reach this connection again, so its server goes now.
      if (transport.sessionId === undefined) await connection.close().catch(() => undefined);
    }
  }

  /**
   * A standalone GET stream is how we know an HTTP client is still there: a
   * killed client never sends DELETE, but its socket closes (R-AGT-1).
   */
  private watchStream(connection: Connection, res: http.ServerResponse): void {
    // A request at all says the client is there; the stream is what says when it is gone.
    connection.streamOpened();
    res.once('close', () => {
      // A refused GET (409: it already has one) says nothing of the client; a stream that
      // closed before or after its headers went out means the client went away.
      if (res.headersSent && res.statusCode !== 200) return;
      connection.streamDropped();
    });
  }

  /**
   * A relay opens its stream just after initialize; killed in that instant, it
   * would leave no stream to drop. Until its stream is there, the socket its
   * requests came on closing says the same (a relay is a local process of ours,
   * whose sockets live as long as it does in that first moment).
   */
  private watchRelaySocket(connection: Connection, req: http.IncomingMessage): void {
    if (connection.kind !== 'relay' || connection.hasStream || this.watchedSockets.has(req.socket)) return;
    this.watchedSockets.add(req.socket);
    req.socket.once('close', () => {
      if (!connection.hasStream) connection.streamDropped();
    });
  }

  private checkHostAndOrigin(req: http.IncomingMessage): void {
    const hostHeader = req.headers.host;
    const hostname = hostHeader === undefined ? undefined : hostnameOf(hostHeader);
    if (hostname === undefined || !LOOPBACK_NAMES.has(hostname)) {
      throw new HttpFailure(403, COORDINATOR_ERROR, `Forbidden: Host ${JSON.stringify(hostHeader ?? '')} is not a loopback address`);
    }
    const origin = req.headers.origin;
    if (origin !== undefined) {
      const originHost = /^https?:\/\//.test(origin) ? hostnameOf(origin) : undefined;
      if (originHost === undefined || !LOOPBACK_NAMES.has(originHost)) {
        throw new HttpFailure(403, COORDINATOR_ERROR, `Forbidden: Origin ${JSON.stringify(origin)} is not a loopback origin`);
      }
    }
  }

  private checkToken(req: http.IncomingMessage): void {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match?.[1] || !timingSafeEqual(tokenDigest(match[1].trim()), this.tokenDigest)) {
      throw new HttpFailure(
        401,
        COORDINATOR_ERROR,
        `Unauthorized: send "Authorization: Bearer <token>", the token in ${this.options.tokenPlace ?? "SESSION_COORDINATOR_TOKEN, else the install's token file"}`,
        {
          'WWW-Authenticate': 'Bearer realm="session-coordinator"',
        },
      );
    }
  }

  private async readJson(req: http.IncomingMessage): Promise<unknown> {
    const limit = this.options.maxBodyBytes;
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of req as AsyncIterable<Buffer>) {
        size += chunk.length;
        // Keep reading what is too large (answering mid-upload breaks the client's pipe), up to a point.
        if (size > limit * 8) req.destroy();
        if (size <= limit) chunks.push(chunk);
      }
    } catch (e) {
      // Cut off by us (far too large) or by the client: a refusal, not a failure of ours (R-SEC-6).
      this.coordinator.logger.debug(`A request body ended early after ${size} bytes: ${errorMessage(e)}`);
      if (size <= limit) throw new HttpFailure(400, COORDINATOR_ERROR, `Bad Request: the request body was cut off after ${size} bytes`);
    }
    if (size > limit) throw new HttpFailure(413, COORDINATOR_ERROR, `Payload too large: ${size} bytes, the limit is ${limit} bytes`);
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw new HttpFailure(400, ErrorCode.ParseError, 'Parse error: the body is not valid JSON');
    }
  }

  private sendJson(res: http.ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(value);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }
}
