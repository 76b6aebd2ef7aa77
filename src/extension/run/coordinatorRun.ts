import * as vscode from 'vscode';
import { installDir, loadOrCreateToken } from '../../core/install/installState.js';
import { escapingLogger, type Logger } from '../../core/logging/logger.js';
import { Participant } from '../../core/participant.js';
import type { StoreStatus } from '../../core/store/sharedStore.js';
import type { Settings } from '../config/settings.js';
import type { PanelState, SeriesPoint } from '../views/healthProtocol.js';
import { personActor, PEOPLE } from '../../core/messages/messageRules.js';
import { buildPanelState, seriesPoint, type PanelInputs } from '../views/panelModel.js';

/** Trend points kept: two minutes, here and in the webview. */
export const SERIES_LENGTH = 120;

function activityOf(sessions: ReadonlyArray<{ id: string; requestCount: number; pendingCount?: number; lastActivityAt: number }>): string {
  return sessions.map((s) => `${s.id}:${s.requestCount}:${s.pendingCount ?? 0}:${s.lastActivityAt}`).join(',');
}
const TICK_MS = 1000;

export interface RunOptions {
  log: Logger;
  settings: Settings;
  workspaceRoots: readonly string[];
  /** Set in Restricted Mode: the run shares nothing and writes nothing in the workspace. */
  restrictedReason: string | undefined;
  /** The Redis password from SecretStorage, kept out of settings files. */
  storePassword: string | undefined;
}

/**
 * One coordinator run: lives until the settings that need a restart change,
 * trust changes, or the person restarts it. The extension outlives it.
 */
export class CoordinatorRun implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  private readonly pointAdded = new vscode.EventEmitter<SeriesPoint>();
  /** A new trend point, once a second: all a visible panel needs when nothing else changed. */
  readonly onDidAddPoint = this.pointAdded.event;
  /** What the last full panel state read of the store and the inboxes: a state for the status bar alone reuses them. */
  private lastStore: StoreStatus | undefined;
  private lastInboxes: NonNullable<PanelInputs['inboxes']> = [];
  /** The sessions as of the last state: activity (requests, pending) is news for a visible panel only. */
  private lastActivity = '';
  private readonly series: SeriesPoint[] = [];
  private readonly ticker: NodeJS.Timeout;
  private readonly subscription: { dispose(): unknown };
  private lastRequests = 0;
  private pending: NodeJS.Timeout | undefined;

  private constructor(
    readonly participant: Participant,
    readonly token: string,
    private readonly options: RunOptions,
  ) {
    this.subscription = participant.coordinator.onDidChange(() => this.soon());
    this.ticker = setInterval(() => void this.tick(), TICK_MS);
  }

  static async start(options: RunOptions): Promise<CoordinatorRun> {
    const dir = installDir();
    const token = await loadOrCreateToken(dir);
    const participant = await Participant.start({
      kind: 'window',
      label: `${vscode.env.appName} window`,
      workspaceRoots: [...options.workspaceRoots, ...options.settings.allowedPaths],
      // Agents' text reaches this log: one call, one line (R-SEC-6).
      logger: escapingLogger(options.log),
      coordinator: options.settings.coordinatorOptions(),
      quotas: options.settings.storeQuotas,
      ...(options.restrictedReason ? { localOnlyReason: options.restrictedReason } : {}),
      storeSelection: {
        ...(options.settings.storeUrl ? { url: options.settings.storeUrl } : {}),
        ...(options.settings.projectId ? { projectId: options.settings.projectId } : {}),
        ...(options.storePassword ? { password: options.storePassword } : {}),
      },
      http: { port: options.settings.httpPort, token, installDir: dir },
    });
    return new CoordinatorRun(participant, token, options);
  }

  get coordinator(): Participant['coordinator'] {
    return this.participant.coordinator;
  }

  get url(): string | undefined {
    return this.participant.url;
  }

  /**
   * The panel's state. `full`: for a visible panel, with the store's
   * namespaces and the inboxes read afresh; else what the status bar and the
   * Explorer badges need, reusing the last of those (a hidden panel costs no
   * reads of them).
   */
  async panelState(full: boolean): Promise<PanelState> {
    this.coordinator.metrics.counter(full ? 'panel.fullStates' : 'panel.statusStates').inc();
    const claims = await this.coordinator.claimsEverywhere();
    // Worktree overlaps are within the first folder's repository: another folder's src/app.ts is another file.
    const snapshot = await this.coordinator.snapshot(
      claims.filter((c) => !c.projectRoot),
      full ? undefined : this.lastStore,
    );
    this.lastStore = snapshot.store;
    if (full) this.lastInboxes = await this.inboxes();
    this.lastActivity = activityOf(snapshot.sessions);
    return buildPanelState({
      inboxes: this.lastInboxes,
      ...(this.coordinator.git ? { checkout: this.coordinator.git.worktree } : {}),
      snapshot,
      claims,
      series: this.series,
      selfParticipantId: this.coordinator.store.participantId,
      url: this.url,
      restrictedReason: this.options.restrictedReason,
    });
  }

  /** The people's inbox and those of the live agents (the first 20): what the panel's Messages section shows. */
  private async inboxes(): Promise<NonNullable<PanelInputs['inboxes']>> {
    const messages = this.coordinator.messages;
    const addressees = [...(await messages.addressees()).values()].slice(0, 20);
    const people = { inbox: PEOPLE, actor: personActor('people', this.coordinator.store.participantId) };
    return Promise.all(
      [people, ...addressees].map(async (a) => ({
        inbox: a.inbox,
        actor: a.actor,
        messages: (await messages.read(a.inbox, { limit: 100 })).messages,
      })),
    );
  }

  async dispose(): Promise<void> {
    clearInterval(this.ticker);
    clearTimeout(this.pending);
    this.subscription.dispose();
    this.changed.dispose();
    this.pointAdded.dispose();
    await this.participant.stop('coordinator run ended');
  }

  /** Coalesces bursts of changes into one panel update. */
  private soon(): void {
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.changed.fire();
    }, 50);
  }

  private async tick(): Promise<void> {
    // Not a full snapshot: the panel takes one when it redraws; a trend point needs only memory.
    const participants = await this.coordinator.store.participants();
    const point = seriesPoint({ metrics: this.coordinator.metrics.snapshot(), participants }, this.lastRequests, TICK_MS / 1000);
    this.lastRequests = point.requests;
    const { requests: _requests, ...rest } = point;
    this.series.push(rest);
    if (this.series.length > SERIES_LENGTH) this.series.shift();
    this.pointAdded.fire(rest);
  }

  get seriesLength(): number {
    return SERIES_LENGTH;
  }

  /** Requests served or pending since the last state: the sessions table's numbers changed, with no event saying so. */
  get activityChanged(): boolean {
    return activityOf(this.coordinator.sessions.infos()) !== this.lastActivity;
  }
}
