import type { Coordinator } from '../../coordinator.js';
import type { ProjectScope } from '../../projects/projectScopes.js';
import type { Actor } from '../../store/actors.js';
import type { Connection } from '../connection.js';
import type { ConnectionHub } from '../connectionHub.js';
import type { ResourceSubscriptions } from '../resourceSubscriptions.js';

/** What a tool handler may use: the coordinator, and the connection it was called on. */
export interface ToolContext {
  readonly coordinator: Coordinator;
  readonly connection: Connection;
  readonly hub: ConnectionHub;
  readonly subscriptions: ResourceSubscriptions;
  /** Who is acting: this connection's session (throws when there is none yet), in `scope` (default: the primary project). */
  actor(scope?: ProjectScope): Actor;
  /** The project root whose store this coordinator shares. */
  projectRoot(): string;
}
