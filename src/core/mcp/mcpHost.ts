import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { Coordinator } from '../coordinator.js';
import type { TransportKind } from '../sessions/session.js';
import { Connection } from './connection.js';
import { ConnectionHub } from './connectionHub.js';
import { createMcpServer } from './mcpServerFactory.js';

/** Turns any SDK transport into a coordinated connection with its own McpServer. */
export class McpHost {
  readonly hub = new ConnectionHub();

  constructor(readonly coordinator: Coordinator) {}

  async attach(inner: Transport, kind: TransportKind, id: string): Promise<Connection> {
    const connection = new Connection(id, kind, inner, this.coordinator, this.hub);
    this.hub.add(connection);
    const server = createMcpServer({ coordinator: this.coordinator, connection, hub: this.hub });
    await server.connect(connection);
    return connection;
  }

  async dispose(): Promise<void> {
    await this.hub.closeAll();
  }
}
