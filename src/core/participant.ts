import { promises as fs } from 'node:fs';
import type { OptionsOverride } from './config.js';
import { Coordinator, type StoreOpener } from './coordinator.js';
import { tokenPlace, writeDiscovery } from './install/installState.js';
import type { Logger } from './logging/logger.js';
import { HttpEndpoint } from './mcp/httpEndpoint.js';
import { McpHost } from './mcp/mcpHost.js';
import type { FileStoreOptions } from './store/file/fileStore.js';
import type { StoreQuotas } from './store/rules/limits.js';
import { openSharedStore, type StoreSelection } from './store/openSharedStore.js';

export interface ParticipantOptions {
  kind: 'window' | 'headless';
  label: string;
  workspaceRoots: readonly string[];
  logger: Logger;
  coordinator?: OptionsOverride;
  store?: Partial<FileStoreOptions>;
  /** The store's quotas, whichever backend it is (R-SEC-1). */
  quotas?: Partial<StoreQuotas>;
  /** Redis for teams on several machines; absent: files in the workspace (R-CTX-9). */
  storeSelection?: StoreSelection;
  /** Why the shared store must not be used (an untrusted workspace); absent: use it. */
  localOnlyReason?: string;
  /** Serve Streamable HTTP on loopback, and announce it in the install folder's discovery files. */
  http?: { port: number; token: string; installDir: string; maxBodyBytes?: number };
}

const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;

/**
 * One participant of a workspace: a coordinator, its shared store, its MCP
 * host and (optionally) its HTTP endpoint with a discovery file. A window
 * and `session-coordinator serve` are both one of these.
 */
export class Participant {
  private discoveryFile: string | undefined;
  private stopped = false;

  private constructor(
    readonly coordinator: Coordinator,
    readonly host: McpHost,
    private readonly logger: Logger,
    readonly http: HttpEndpoint | undefined,
  ) {}

  get url(): string | undefined {
    return this.http?.url;
  }

  static async start(options: ParticipantOptions): Promise<Participant> {
    const openStore: StoreOpener = (projectRoot, metrics) =>
      openSharedStore(options.storeSelection ?? {}, {
        projectRoot,
        participant: { kind: options.kind, label: options.label },
        metrics,
        logger: options.logger,
        // A window's loop is the extension host's, shared by every extension: its store's file calls run on a worker thread.
        fileOptions: { ...options.store, ...options.quotas, io: options.kind === 'window' ? 'worker' : 'blocking' },
        ...(options.quotas ? { redisOptions: options.quotas } : {}),
      });
    const coordinator = new Coordinator({
      logger: options.logger,
      allowedRoots: options.workspaceRoots,
      label: options.label,
      ...(options.coordinator ? { options: options.coordinator } : {}),
      ...(options.localOnlyReason ? { localOnlyReason: options.localOnlyReason } : {}),
      openStore,
      // Another folder keeps its claims in its own files; a Redis store is keyed by one project id, so there is no other.
      ...(options.storeSelection?.url || options.localOnlyReason ? {} : { openOtherStore: openStore }),
    });
    await coordinator.start();
    const host = new McpHost(coordinator);
    host.start();
    const http = options.http
      ? new HttpEndpoint(host, coordinator, {
          port: options.http.port,
          token: options.http.token,
          tokenPlace: tokenPlace(options.http.installDir),
          maxBodyBytes: options.http.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
        })
      : undefined;
    const participant = new Participant(coordinator, host, options.logger, http);
    try {
      if (http && options.http) {
        const url = await http.listen();
        participant.discoveryFile = await writeDiscovery(options.http.installDir, {
          pid: process.pid,
          url,
          kind: options.kind,
          workspaceRoots: [...options.workspaceRoots],
          startedAt: new Date().toISOString(),
        });
      }
    } catch (e) {
      // A half-started participant must not linger: whoever waits on it would wait forever.
      await participant.stop('startup failed');
      throw e;
    }
    return participant;
  }

  async stop(reason: string): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.logger.info(`Stopping: ${reason}`);
    if (this.discoveryFile) await fs.rm(this.discoveryFile, { force: true });
    await this.host.dispose();
    await this.http?.close();
    await this.coordinator.dispose();
  }
}
