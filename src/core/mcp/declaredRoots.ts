import { fileURLToPath } from 'node:url';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  ListRootsResultSchema,
  RootsListChangedNotificationSchema,
  type ServerNotification,
  type ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import type { Coordinator } from '../coordinator.js';
import { errorMessage } from '../errors.js';
import type { RefusedRoot } from '../sessions/session.js';
import type { Connection } from './connection.js';

export type ToolExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/**
 * Binds a session to the MCP roots its agent declares, refusing any that
 * resolve outside the workspace (R-ROOT-4). Roots are read from inside a
 * tool call, as a request related to it: over HTTP a server request sent on
 * its own goes to the standalone SSE stream, which the client may not have
 * opened yet, and would be lost.
 */
export class DeclaredRoots {
  private stale = true;
  private inflight: Promise<void> | undefined;

  constructor(
    private readonly coordinator: Coordinator,
    private readonly connection: Connection,
    private readonly server: Server,
  ) {
    server.setNotificationHandler(RootsListChangedNotificationSchema, async () => {
      this.stale = true;
    });
  }

  /** Re-reads the agent's roots if they may have changed; cheap otherwise. */
  async ensure(extra: ToolExtra): Promise<void> {
    if (!this.stale || !this.server.getClientCapabilities()?.roots) return;
    this.stale = false;
    this.inflight ??= this.read(extra).finally(() => (this.inflight = undefined));
    await this.inflight;
  }

  private async read(extra: ToolExtra): Promise<void> {
    const session = this.connection.session;
    if (!session) return;
    let roots;
    try {
      ({ roots } = await extra.sendRequest({ method: 'roots/list' }, ListRootsResultSchema, { timeout: 5000 }));
    } catch (e) {
      this.stale = true;
      this.coordinator.logger.warn(`Session ${session.id}: could not read the agent's roots: ${errorMessage(e)}`);
      return;
    }
    const accepted: string[] = [];
    const refused: RefusedRoot[] = [];
    for (const root of roots) {
      try {
        if (!root.uri.startsWith('file://')) throw new Error(`only file:// roots are supported, not ${root.uri}`);
        accepted.push(await this.coordinator.roots.resolve(fileURLToPath(root.uri)));
      } catch (e) {
        refused.push({ uri: root.uri, reason: errorMessage(e) });
      }
    }
    for (const r of refused) this.coordinator.logger.warn(`Session ${session.id}: refused declared root ${r.uri}: ${r.reason}`);
    this.coordinator.metrics.counter('roots.declaredRefused').inc(refused.length);
    const before = session.root;
    session.bindDeclaredRoots(accepted, refused);
    // The session-opened line named the root it started at; a person reading the log must see where it works now.
    if (session.root !== before)
      this.coordinator.logger.info(`Session ${session.id} works at ${session.root} (the roots its agent declared)`);
  }
}
