import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { DisposableStore } from '../../core/lifecycle/disposable.js';
import { errorMessage } from '../../core/errors.js';
import { COMMANDS } from '../commands/commandIds.js';
import { isWebviewMessage, type HostMessage, type PanelState, type SeriesPoint, type WebviewMessage } from './healthProtocol.js';

export const HEALTH_VIEW_ID = 'sessionCoordinator.health';

/**
 * The Session Health webview view. Posts state only after the webview says
 * it is ready, and keeps the last state so a re-shown view is current at once.
 */
export class HealthViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  private view: vscode.WebviewView | undefined;
  private ready = false;
  private latest: PanelState | undefined;
  /** What the current view subscribed to: disposed when that view goes, so a view opened again does not add to it. */
  private viewScope: DisposableStore | undefined;

  constructor(
    private readonly extensionUri: vscode.Uri,
    /** The view was shown (or its webview made anew): what it had while hidden was only the status bar's state. */
    private readonly onShown: () => void,
  ) {}

  get isVisible(): boolean {
    return this.view?.visible ?? false;
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    void this.viewScope?.dispose();
    const scope = new DisposableStore();
    this.viewScope = scope;
    this.view = view;
    this.ready = false;
    view.webview.options = {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, 'dist'), vscode.Uri.joinPath(this.extensionUri, 'media')],
    };
    view.webview.html = this.html(view.webview);
    for (const d of [
      view.webview.onDidReceiveMessage((message: unknown) => {
        if (!isWebviewMessage(message)) return;
        if (message.type === 'ready') {
          this.ready = true;
          this.post();
          this.onShown();
          return;
        }
        void this.onMessage(message);
      }),
      view.onDidChangeVisibility(() => {
        if (!view.visible) return;
        this.post();
        this.onShown();
      }),
      view.onDidDispose(() => {
        if (this.view === view) {
          this.view = undefined;
          this.ready = false;
        }
        void scope.dispose();
        if (this.viewScope === scope) this.viewScope = undefined;
      }),
    ])
      scope.add(d);
  }

  /** What a person did in the panel: each is a palette command, so the panel and the palette do one thing one way. */
  private async onMessage(message: Exclude<WebviewMessage, { type: 'ready' }>): Promise<void> {
    try {
      switch (message.type) {
        case 'endSession':
          await vscode.commands.executeCommand(COMMANDS.endSession, message.sessionId);
          break;
        case 'releaseClaim':
          await vscode.commands.executeCommand(
            COMMANDS.releaseClaim,
            message.resource,
            message.fencingToken,
            message.checkout,
            message.project,
          );
          break;
        case 'openHistory':
          await vscode.commands.executeCommand(COMMANDS.openSessionHistory, message.sessionId);
          break;
        case 'sendMessage':
          await vscode.commands.executeCommand(COMMANDS.sendMessage, message.to);
          break;
        case 'runCommand':
          await vscode.commands.executeCommand(COMMANDS[message.command]);
          break;
      }
    } catch (e) {
      void vscode.window.showErrorMessage(`Session Coordinator: ${errorMessage(e)}`);
    }
  }

  update(state: PanelState): void {
    this.latest = state;
    if (this.view?.visible) this.post();
  }

  /** One trend point: the webview redraws its trend lines and nothing else. */
  addPoint(point: SeriesPoint, keep: number): void {
    if (!this.view?.visible || !this.ready) return;
    const message: HostMessage = { type: 'point', point, keep };
    void this.view.webview.postMessage(message);
  }

  dispose(): void {
    void this.viewScope?.dispose();
    this.viewScope = undefined;
  }

  private post(): void {
    if (!this.view || !this.ready || !this.latest) return;
    const message: HostMessage = { type: 'state', state: this.latest };
    void this.view.webview.postMessage(message);
  }

  private html(webview: vscode.Webview): string {
    const nonce = randomBytes(16).toString('base64');
    const script = webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview.js'));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'media', 'healthView.css'));
    // The toolkit adds its own style elements: it reads the nonce from the csp-nonce meta.
    const csp = [
      `default-src 'none'`,
      `style-src ${webview.cspSource} 'nonce-${nonce}'`,
      `font-src ${webview.cspSource}`,
      `img-src ${webview.cspSource} data:`,
      `script-src 'nonce-${nonce}'`,
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<meta property="csp-nonce" content="${nonce}">
<link href="${style}" rel="stylesheet">
<title>Session Health</title>
</head>
<body>
<main id="app"><p class="muted">Loading session health…</p></main>
<script nonce="${nonce}" src="${script}"></script>
</body>
</html>`;
  }
}
