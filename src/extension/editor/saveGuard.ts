import * as vscode from 'vscode';
import type { ClaimIndex } from './claimDecorations.js';

/**
 * Warns before saving a file an agent's session holds (R-CLM-4). A warning,
 * not a block: claims are advisory, and the person decides.
 */
export class SaveGuard implements vscode.Disposable {
  private readonly subscription: vscode.Disposable;

  constructor(
    private readonly index: () => ClaimIndex,
    private readonly enabled: () => boolean,
  ) {
    this.subscription = vscode.workspace.onWillSaveTextDocument((e) => {
      if (!this.enabled() || e.reason !== vscode.TextDocumentSaveReason.Manual) return;
      const index = this.index();
      const claim = index.claimOn(e.document.uri);
      if (!claim) return;
      // Not awaited: a save must never wait on a notification nobody dismisses.
      void vscode.window.showWarningMessage(
        `${vscode.workspace.asRelativePath(e.document.uri)}: ${index.describe(claim)}. Your save went ahead; coordinate with that agent before editing further.`,
      );
    });
  }

  dispose(): void {
    this.subscription.dispose();
  }
}
