import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
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
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly onMessage: (message: Exclude<WebviewMessage, { type: 'ready' }>) => void,
    /** The view was shown (or its webview made anew): what it had while hidden was only the status bar's state. */
    private readonly onShown: () => void,
  ) {}

  get isVisible(): boolean {
    return this.view?.visible ?? false;
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    this.ready = false;
    view.webview.options = { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, 'dist'), vscode.Uri.joinPath(this.extensionUri, 'media')] };
    view.webview.html = this.html(view.webview);
    this.disposables.push(
      view.webview.onDidReceiveMessage((message: unknown) => {
        if (!isWebviewMessage(message)) return;
        if (message.type === 'ready') {
          this.ready = true;
          this.post();
          this.onShown();
          return;
        }
        this.onMessage(message);
      }),
      view.onDidChangeVisibility(() => {
        if (!view.visible) return;
        this.post();
        this.onShown();
      }),
      view.onDidDispose(() => {
        this.view = undefined;
        this.ready = false;
      }),
    );
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
    for (const d of this.disposables.splice(0)) d.dispose();
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
    const csp = [`default-src 'none'`, `style-src ${webview.cspSource} 'nonce-${nonce}'`, `font-src ${webview.cspSource}`, `img-src ${webview.cspSource} data:`, `script-src 'nonce-${nonce}'`].join('; ');
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
