import type { AgentIdentity } from '../agents/agentIdentity.js';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ErrorCode, type JSONRPCMessage, type MessageExtraInfo, type RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { Coordinator } from '../coordinator.js';
import { CoordinatorError, errorMessage } from '../errors.js';
import type { Session, TransportKind } from '../sessions/session.js';
import { errorResponse, isRequest, isResponse, toWireError } from './jsonRpc.js';
import { label } from '../logging/printable.js';

type Key = string;
const keyOf = (id: RequestId): Key => `${typeof id}:${id}`;

export interface ConnectionEvents {
  /** The connection is bound to a session (at initialize, or when it resumes another). */
  onBound(connection: Connection, session: Session): void;
  onClosed(connection: Connection): void;
}

/**
 * One client connection, sitting between an SDK transport and that
 * connection's McpServer. It opens the coordinator session at `initialize`,
 * tracks every request in the coordinator's pending map (limits, timeouts,
 * atomic completion) and ends the session when the transport ends.
 */
export class Connection implements Transport {
  onmessage?: Transport['onmessage'];
  onclose?: Transport['onclose'];
  onerror?: Transport['onerror'];

  private bound: Session | undefined;
  private unsubscribeEnd: (() => void) | undefined;
  /** Request -> the session it was counted against (none when it came before any session). */
  private readonly inflight = new Map<Key, { sessionId: string | undefined; id: RequestId }>();
  private readonly afterResponse = new Map<Key, () => void>();
  /** Messages that arrive while initialize is opening the session wait here, in order. */
  private queue: Array<[JSONRPCMessage, MessageExtraInfo | undefined]> | undefined;
  private closed = false;
  /** Set by detach(): the session lives on in another connection. */
  private detached = false;
  private streamSeen = false;
  private goneBeforeBound = false;

  constructor(
    readonly id: string,
    readonly kind: TransportKind,
    private readonly inner: Transport,
    private readonly coordinator: Coordinator,
    private readonly events: ConnectionEvents,
    private readonly agent?: AgentIdentity,
  ) {}

  get sessionId(): string | undefined {
    return this.inner.sessionId;
  }

  get session(): Session | undefined {
    return this.bound;
  }

  /** The client has opened its standalone stream at least once. */
  get hasStream(): boolean {
    return this.streamSeen;
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  setProtocolVersion = (version: string): void => this.inner.setProtocolVersion?.(version);

  async start(): Promise<void> {
    this.inner.onmessage = (message, extra) => this.receive(message, extra);
    this.inner.onerror = (error) => this.onerror?.(error);
    this.inner.onclose = () => this.handleClosed();
    await this.inner.start();
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (!isResponse(message)) return this.inner.send(message, options);
    const key = keyOf(message.id);
    const entry = this.inflight.get(key);
    if (!entry) {
      // Timed out (the client already has its error) or never ours: never deliver twice.
      if (this.bound) this.coordinator.requests.take(this.bound.id, message.id);
      return;
    }
    this.inflight.delete(key);
    if (entry.sessionId !== undefined) this.coordinator.requests.take(entry.sessionId, message.id);
    try {
      await this.inner.send(message, options);
    } finally {
      const after = this.afterResponse.get(key);
      this.afterResponse.delete(key);
      after?.();
    }
  }

  async close(): Promise<void> {
    await this.inner.close();
  }

  /**
   * Moves this connection to another live session (R-SES-10). Its own
   * session ends once the request that asked for the move has been answered.
   */
  rebind(target: Session, requestId: RequestId, closeOthers: (session: Session) => void): void {
    const previous = this.bound;
    if (previous === target) return;
    closeOthers(target);
    this.bind(target);
    if (previous) {
      previous.attachedConnections--;
      this.afterResponse.set(keyOf(requestId), () => this.coordinator.sessions.close(previous.id, `resumed as session ${target.id}`));
    }
  }

  /** The client opened a stream it keeps for its whole life (an HTTP GET): it is back, if it was gone. */
  streamOpened(): void {
    this.streamSeen = true;
    if (this.bound?.state.kind === 'disconnected') this.coordinator.sessions.reconnect(this.bound.id);
  }

  /**
   * That stream dropped without a DELETE: the client died or lost its
   * network. A relay is a local process that holds its stream until it
   * exits, so its session ends now; any other client gets the grace.
   */
  streamDropped(): void {
    const session = this.bound;
    if (this.closed) return;
    if (!session) {
      // Gone while initialize was still opening its session: end it as soon as it exists.
      this.goneBeforeBound = true;
      return;
    }
    if (this.kind === 'relay') {
      this.coordinator.logger.info(`The relay of session ${session.id} dropped its stream: it is gone`);
      void this.inner.close().catch(() => undefined);
      return;
    }
    if (session.attachedConnections <= 1) this.coordinator.sessions.disconnect(session.id, `${this.kind} stream dropped`);
  }

  /** Lets go of the session without ending it, then closes the transport. */
  detach(): void {
    this.detached = true;
    this.unbind();
    void this.inner.close().catch(() => undefined);
  }

  private bind(session: Session): void {
    this.unbind();
    this.bound = session;
    session.attachedConnections++;
    session.transport = this.kind;
    this.unsubscribeEnd = session.onDidEnd(() => {
      this.unbind();
      void this.inner.close().catch(() => undefined);
    });
    this.events.onBound(this, session);
  }

  private unbind(): void {
    this.unsubscribeEnd?.();
    this.unsubscribeEnd = undefined;
    if (this.bound) this.bound.attachedConnections = Math.max(0, this.bound.attachedConnections - 1);
    this.bound = undefined;
  }

  private receive(message: JSONRPCMessage, extra: MessageExtraInfo | undefined): void {
    if (this.queue) {
      this.queue.push([message, extra]);
      return;
    }
    if (isRequest(message) && message.method === 'initialize' && !this.bound) {
      this.queue = [];
      void this.openSession(message, extra);
      return;
    }
    this.dispatch(message, extra);
  }

  private async openSession(
    message: JSONRPCMessage & { id: RequestId; params?: unknown },
    extra: MessageExtraInfo | undefined,
  ): Promise<void> {
    const params = (message.params ?? {}) as { clientInfo?: { name?: unknown; version?: unknown } };
    const name = label(params.clientInfo?.name, 'unknown');
    const version = label(params.clientInfo?.version, '0');
    try {
      const session = await this.coordinator.openSession({
        transport: this.kind,
        client: { name, version },
        ...(this.agent ? { agent: this.agent } : {}),
      });
      if (this.closed) {
        this.coordinator.sessions.close(session.id, 'connection closed during initialize');
        return;
      }
      this.bind(session);
      if (this.goneBeforeBound) {
        this.coordinator.logger.info(`The ${this.kind} client of session ${session.id} was gone before its session opened`);
        void this.inner.close().catch(() => undefined);
        return;
      }
    } catch (e) {
      this.coordinator.logger.warn(`Refused a ${this.kind} connection at initialize: ${errorMessage(e)}`);
      this.queue = undefined;
      await this.inner.send(toWireError(message.id, e)).catch(() => undefined);
      await this.inner.close().catch(() => undefined);
      return;
    }
    this.dispatch(message, extra);
    const queued = this.queue ?? [];
    this.queue = undefined;
    for (const [m, x] of queued) this.receive(m, x);
  }

  private dispatch(message: JSONRPCMessage, extra: MessageExtraInfo | undefined): void {
    if (isRequest(message)) {
      if (!this.track(message.id, message.method)) return;
    } else if ('method' in message && message.method === 'notifications/cancelled') {
      this.forgetCancelled(message.params);
    }
    this.onmessage?.(message, extra);
  }

  /** Counts the request against its session; answers it at once and returns false when refused. */
  private track(id: RequestId, method: string): boolean {
    const session = this.bound;
    const key = keyOf(id);
    if (!session) {
      this.inflight.set(key, { sessionId: undefined, id });
      return true;
    }
    try {
      if (this.inflight.has(key)) {
        throw new CoordinatorError('DuplicateRequestId', `Request id ${JSON.stringify(id)} is already in flight on this connection`, {
          sessionId: session.id,
          id,
        });
      }
      this.coordinator.requests.begin(session.id, id, method, (request) => this.timedOut(key, request.id, request.method));
    } catch (e) {
      void this.inner.send(toWireError(id, e)).catch(() => undefined);
      return false;
    }
    this.inflight.set(key, { sessionId: session.id, id });
    if (session.state.kind === 'disconnected') this.coordinator.sessions.reconnect(session.id);
    session.touch(Date.now());
    this.coordinator.metrics.counter('mcp.requests').inc();
    return true;
  }

  private timedOut(key: Key, id: RequestId, method: string): void {
    this.inflight.delete(key);
    const ms = this.coordinator.options.requests.timeoutMs;
    void this.inner
      .send(
        errorResponse(id, ErrorCode.RequestTimeout, `Request ${method} timed out after ${ms} ms`, {
          code: 'RequestTimeout',
          timeoutMs: ms,
        }),
      )
      .catch(() => undefined);
    // Let the handler stop its work: the SDK then sends nothing for it.
    this.onmessage?.({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'timed out' } });
  }

  private forgetCancelled(params: unknown): void {
    const requestId = (params as { requestId?: RequestId } | undefined)?.requestId;
    if (requestId === undefined) return;
    const key = keyOf(requestId);
    const entry = this.inflight.get(key);
    if (!entry) return;
    this.inflight.delete(key);
    if (entry.sessionId !== undefined) this.coordinator.requests.cancel(entry.sessionId, requestId);
  }

  private handleClosed(): void {
    if (this.closed) return;
    this.closed = true;
    const session = this.bound;
    this.unbind();
    for (const { sessionId, id } of this.inflight.values()) {
      if (sessionId !== undefined) this.coordinator.requests.cancel(sessionId, id);
    }
    this.inflight.clear();
    this.afterResponse.clear();
    if (session && !this.detached && session.attachedConnections === 0) {
      this.coordinator.sessions.close(session.id, `${this.kind} connection closed`);
    }
    this.events.onClosed(this);
    this.onclose?.();
  }
}
