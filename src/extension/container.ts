import * as vscode from 'vscode';
import { DisposableStore, toDisposable, type Disposable } from '../core/lifecycle/disposable.js';
import { errorMessage } from '../core/errors.js';
import { registerCommands } from './commands/commands.js';
import { Settings } from './config/settings.js';
import { passwordFor, STORE_PASSWORD_SECRET } from './config/storePassword.js';
import { ClaimDecorations, ClaimIndex } from './editor/claimDecorations.js';
import { SaveGuard } from './editor/saveGuard.js';
import { MCP_PROVIDER_ID, McpServerProvider } from './mcp/mcpServerProvider.js';
import * as path from 'node:path';
import type { CoordinatorRun } from './run/coordinatorRun.js';
import { StatusBar } from './statusBar.js';
import type { PanelState } from './views/healthProtocol.js';
import { HEALTH_VIEW_ID, HealthViewProvider } from './views/healthViewProvider.js';

type RunModule = typeof import('./run/coordinatorRun.js');

/**
 * The coordinator (MCP SDK, zod, the store) is a bundle of its own, loaded
 * when the first run starts: activation only wires up the UI.
 */
function loadRunModule(): RunModule {
  // A computed path keeps esbuild from inlining it into extension.js.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a deliberate lazy load of our own second bundle
  return require(path.join(__dirname, 'coordinatorRun.js')) as RunModule;
}

const RESTRICTED =
  'Restricted Mode: this workspace is not trusted, so the coordinator writes nothing in it and shares nothing with other windows.';

/**
 * The composition root. Two lifetimes: what lives as long as the extension
 * (this object, the view, the status bar, commands) and what lives as long
 * as one coordinator run (restarted on trust or on settings that need it).
 */
export class Container implements vscode.Disposable {
  private readonly extension = new DisposableStore();
  private run: CoordinatorRun | undefined;
  /** Everything that lives as long as the current run (rust-analyzer's client cleanup list): stopping is one dispose. */
  private runScope: DisposableStore | undefined;
  /** Held while the panel shows: other windows' context writes are then read as they land, so its namespaces stay live. */
  private panelWatch: Disposable | undefined;
  private starting: Promise<void> | undefined;
  private readonly settings = new Settings();
  private readonly log: vscode.LogOutputChannel;
  private readonly statusBar: StatusBar;
  private readonly view: HealthViewProvider;
  private readonly mcp: McpServerProvider;
  private readonly decorations: ClaimDecorations;
  private claimIndex = new ClaimIndex(undefined, []);
  private lastState: PanelState | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly context: vscode.ExtensionContext) {
    this.log = this.extension.add(vscode.window.createOutputChannel('Session Coordinator', { log: true }));
    this.statusBar = this.extension.add(new StatusBar());
    this.statusBar.setVisible(this.settings.statusBarEnabled);
    this.view = this.extension.add(new HealthViewProvider(context.extensionUri, () => void this.refresh()));
    this.extension.add(
      vscode.window.registerWebviewViewProvider(HEALTH_VIEW_ID, this.view, { webviewOptions: { retainContextWhenHidden: false } }),
    );
    this.mcp = this.extension.add(new McpServerProvider());
    this.extension.add(vscode.lm.registerMcpServerDefinitionProvider(MCP_PROVIDER_ID, this.mcp));
    this.decorations = this.extension.add(new ClaimDecorations());
    this.decorations.setEnabled(this.settings.claimBadges);
    this.extension.add(vscode.window.registerFileDecorationProvider(this.decorations));
    this.extension.add(
      new SaveGuard(
        () => this.claimIndex,
        () => this.settings.warnBeforeSave,
      ),
    );
    for (const d of registerCommands({
      run: () => this.run,
      restart: () => this.restart(),
      showLog: () => this.log.show(),
      extensionPath: context.extensionPath,
      secrets: context.secrets,
      settings: this.settings,
    }))
      this.extension.add(d);
    this.extension.add(vscode.workspace.onDidChangeConfiguration((e) => void this.onSettingsChanged(e)));
    this.extension.add(vscode.workspace.onDidChangeWorkspaceFolders(() => void this.onFoldersChanged()));
    this.extension.add(
      context.secrets.onDidChange((e) => {
        if (e.key === STORE_PASSWORD_SECRET) void this.restart();
      }),
    );
    // Trust granted later starts the shared store without a reload (R-EXT-4).
    this.extension.add(vscode.workspace.onDidGrantWorkspaceTrust(() => void this.restart()));
  }

  /** The current run, for tests and commands. */
  get current(): CoordinatorRun | undefined {
    return this.run;
  }

  get state(): PanelState | undefined {
    return this.lastState;
  }

  /** The Explorer badge of a file, as VS Code is given it: for tests (the API has no getter). */
  decorationOf(uri: vscode.Uri): vscode.FileDecoration | undefined {
    return this.decorations.provideFileDecoration(uri);
  }

  async start(): Promise<void> {
    this.starting ??= this.startRun().finally(() => (this.starting = undefined));
    return this.starting;
  }

  // Declared before `ready`: class fields initialise in order, and `ready`'s executor assigns this one.
  private markReady: () => void = () => undefined;
  /** Settles when the first run has started (or failed to, which the user is told about). */
  readonly ready: Promise<void> = new Promise((resolve) => (this.markReady = resolve));

  async restart(): Promise<void> {
    await this.starting;
    await this.stopRun();
    await this.start();
  }

  async dispose(): Promise<void> {
    await this.stopRun();
    await this.extension.dispose();
  }

  private roots(): string[] {
    return (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
  }

  private async startRun(): Promise<void> {
    const restrictedReason = vscode.workspace.isTrusted ? undefined : RESTRICTED;
    try {
      const { password: storePassword, refused } = passwordFor(
        this.settings.storeUrl,
        await this.context.secrets.get(STORE_PASSWORD_SECRET),
      );
      if (refused) this.log.warn(refused);
      const run = await loadRunModule().CoordinatorRun.start({
        log: this.log,
        settings: this.settings,
        workspaceRoots: this.roots(),
        restrictedReason,
        storePassword,
      });
      // Disposed in reverse: the timer, the subscriptions, the MCP definition, then the run itself.
      const scope = new DisposableStore();
      scope.add(run);
      this.mcp.setRun(run);
      scope.add(toDisposable(() => this.mcp.setRun(undefined)));
      scope.add(run.onDidChange(() => void this.refresh()));
      scope.add(
        run.onDidAddPoint((point) => {
          // Once a second: a visible panel gets the trend point, and a full state only if requests were served meanwhile.
          this.watchWhileShown(run);
          if (!this.view.isVisible) return;
          this.view.addPoint(point, run.seriesLength);
          if (run.activityChanged) void this.refresh();
        }),
      );
      scope.add(toDisposable(() => clearTimeout(this.expiryTimer)));
      this.run = run;
      this.runScope = scope;
      this.log.info(`Coordinator listening on ${run.url ?? '(no HTTP)'}${restrictedReason ? ' in Restricted Mode' : ''}`);
      const health = run.coordinator.health();
      if (health.status === 'error') {
        void vscode.window.showErrorMessage(`Session Coordinator: ${health.problems.join('; ')}`, 'Open Folder').then((pick) => {
          if (pick) void vscode.commands.executeCommand('vscode.openFolder');
        });
      }
      await this.refresh();
      this.markReady();
    } catch (e) {
      this.markReady();
      this.log.error(`The coordinator could not start: ${errorMessage(e)}`);
      this.statusBar.showError(`Session Coordinator could not start: ${errorMessage(e)}`);
      void vscode.window.showErrorMessage(`Session Coordinator could not start: ${errorMessage(e)}`, 'Show Log').then((pick) => {
        if (pick) this.log.show();
      });
    }
  }

  private async stopRun(): Promise<void> {
    const scope = this.runScope;
    this.run = undefined;
    this.runScope = undefined;
    void this.panelWatch?.dispose();
    this.panelWatch = undefined;
    await scope?.dispose();
  }

  private watchWhileShown(run: CoordinatorRun): void {
    const shown = this.view.isVisible;
    if (shown && !this.panelWatch) this.panelWatch = run.coordinator.store.watchChanges();
    else if (!shown && this.panelWatch) {
      void this.panelWatch.dispose();
      this.panelWatch = undefined;
    }
  }

  /** On a change: the status bar and the badges always; the panel's full state only while it is visible. */
  private async refresh(): Promise<void> {
    const run = this.run;
    if (!run) return;
    try {
      this.watchWhileShown(run);
      const state = await run.panelState(this.view.isVisible);
      this.lastState = state;
      this.statusBar.update(state);
      this.view.update(state);
      this.claimIndex = new ClaimIndex(run.coordinator.projectRoot, state.claims);
      this.decorations.update(this.claimIndex);
      this.refreshAtNextExpiry(state);
    } catch (e) {
      this.log.warn(`Refreshing the panel: ${errorMessage(e)}`);
    }
  }

  /** A claim that runs out changes nothing on disk: its badge goes when its time is up, not at the next change. */
  private refreshAtNextExpiry(state: PanelState): void {
    clearTimeout(this.expiryTimer);
    const next = Math.min(...state.claims.map((c) => c.expiresAt));
    if (!Number.isFinite(next)) return;
    this.expiryTimer = setTimeout(() => void this.refresh(), Math.min(Math.max(next - Date.now(), 0) + 50, 2 ** 31 - 1));
  }

  private async onSettingsChanged(e: vscode.ConfigurationChangeEvent): Promise<void> {
    const change = this.settings.classify(e);
    if (change === 'none') return;
    this.statusBar.setVisible(this.settings.statusBarEnabled);
    this.decorations.setEnabled(this.settings.claimBadges);
    if (change === 'restart') {
      this.log.info('A setting that needs a coordinator restart changed; restarting');
      await this.restart();
    } else {
      await this.run?.coordinator.setAllowedRoots([...this.roots(), ...this.settings.allowedPaths]);
      await this.refresh();
    }
  }

  private async onFoldersChanged(): Promise<void> {
    // The store lives in the first folder: a different first folder is a different project.
    await this.restart();
  }
}
