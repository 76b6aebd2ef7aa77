import type { AgentIdentity } from '../agents/agentIdentity.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { Coordinator } from '../coordinator.js';
import { CoordinatorError, errorMessage } from '../errors.js';
import type { Disposable } from '../lifecycle/disposable.js';
import type { TransportKind } from '../sessions/session.js';
import type { StoreEvent } from '../store/sharedStore.js';
import { Connection } from './connection.js';
import { ConnectionHub } from './connectionHub.js';
import { CLAIMS_URI, contextUri, createMcpServer } from './mcpServerFactory.js';
import { ResourceSubscriptions } from './resourceSubscriptions.js';
import { INBOX_URI } from './tools/messageTools.js';
import { inboxOf } from '../messages/messageRules.js';

/**
 * Turns any SDK transport into a coordinated connection with its own
 * McpServer, and tells subscribed sessions when the shared store changes.
 */
export class McpHost {
  readonly hub = new ConnectionHub();
  private readonly subscriptions = new ResourceSubscriptions(() => this.coordinator.store);
  private readonly servers = new Map<Connection, McpServer>();
  private storeSubscription: Disposable | undefined;

  constructor(readonly coordinator: Coordinator) {
    // Every connection with its McpServer, live or not yet initialized: what a leak would grow (R-SEC-1).
    coordinator.metrics.gauge('mcp.connections', () => this.hub.size);
  }

  /** Call once the coordinator has started (the store exists). */
  start(): void {
    this.storeSubscription ??= this.coordinator.store.onEvent((e) => this.notify(e));
  }

  /** `agent`: who the agent said it is, through a channel we trust (the environment, a header with the token). */
  async attach(inner: Transport, kind: TransportKind, id: string, agent?: AgentIdentity): Promise<Connection> {
    const connection = new Connection(id, kind, inner, this.coordinator, this.hub, agent);
    this.hub.add(connection);
    const coordinator = this.coordinator;
    const server = createMcpServer({
      coordinator,
      connection,
      hub: this.hub,
      subscriptions: this.subscriptions,
      actor: (scope) => {
        const session = connection.session;
        if (!session) throw new CoordinatorError('SessionNotFound', 'This connection has no session yet: initialize first', {});
        return scope ? coordinator.actorIn(session, scope) : coordinator.actorFor(session);
      },
      projectRoot: () => coordinator.projectRoot,
    });
    this.servers.set(connection, server);
    const onclose = (): void => void this.servers.delete(connection);
    await server.connect(connection);
    const sdkOnClose = connection.onclose;
    connection.onclose = () => {
      onclose();
      sdkOnClose?.();
    };
    return connection;
  }

  async dispose(): Promise<void> {
    await this.storeSubscription?.dispose();
    this.subscriptions.dispose();
    await this.hub.closeAll();
  }

  private notify(event: StoreEvent): void {
    if (event.kind === 'inbox') return this.notifyInbox(event.inbox);
    const uri = event.kind === 'change' ? contextUri(event.change.namespace) : event.kind === 'claims' ? CLAIMS_URI : undefined;
    if (!uri) return;
    for (const [connection, server] of this.servers) {
      if (!connection.session?.subscriptions.has(uri)) continue;
      server.server
        .sendResourceUpdated({ uri })
        .catch((e) => this.coordinator.logger.debug(`Notifying ${connection.id}: ${errorMessage(e)}`));
    }
  }

  /** inbox://me is a different inbox on each connection: only the sessions that read this one hear of it. */
  private notifyInbox(inbox: string): void {
    for (const [connection, server] of this.servers) {
      const session = connection.session;
      if (!session?.subscriptions.has(INBOX_URI) || inboxOf(this.coordinator.actorFor(session)) !== inbox) continue;
      server.server
        .sendResourceUpdated({ uri: INBOX_URI })
        .catch((e) => this.coordinator.logger.debug(`Notifying ${connection.id}: ${errorMessage(e)}`));
    }
  }
}
