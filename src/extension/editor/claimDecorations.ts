import * as vscode from 'vscode';
import { covers, pathResource } from '../../core/store/rules/claims.js';
import type { PanelClaim } from '../views/healthProtocol.js';

/** Claims as the editor shows them: relative to the project root they were made in. */
export class ClaimIndex {
  constructor(
    private readonly root: string | undefined,
    private readonly claims: readonly PanelClaim[],
  ) {}

  /** The claim covering a file. Every claim is an agent's, never the person's: all of them are shown. */
  claimOn(uri: vscode.Uri): PanelClaim | undefined {
    if (!this.root || uri.scheme !== 'file') return undefined;
    // A claim covers the file it names and everything under a folder it names (not the folders above it),
    // each from its own project's root (another workspace folder's claims start at that folder);
    // this checkout's claims first, then another worktree's: the same file changed there too.
    const covering = this.claims.filter((c) => {
      const resource = pathResource(c.project ?? this.root!, uri.fsPath);
      return resource !== undefined && covers(c.resource, resource);
    });
    return covering.find((c) => c.checkout === undefined || c.checkout === this.root) ?? covering[0];
  }

  get resources(): readonly PanelClaim[] {
    return this.claims;
  }

  /** "Claimed by … until …", naming the worktree only when it is another one than this window's. */
  describe(c: PanelClaim): string {
    const elsewhere = c.checkout !== undefined && c.checkout !== this.root && c.worktree;
    return `Claimed by ${c.holderClient} (session ${c.holderSessionId.slice(0, 8)})${elsewhere ? ` in worktree ${c.worktree}` : ''} until ${new Date(c.expiresAt).toLocaleTimeString()}`;
  }
}

/** A badge and tooltip on claimed files in the Explorer (R-CLM-4). */
export class ClaimDecorations implements vscode.FileDecorationProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<vscode.Uri | vscode.Uri[] | undefined>();
  readonly onDidChangeFileDecorations = this.changed.event;
  private index: ClaimIndex = new ClaimIndex(undefined, []);
  private enabled = true;

  setEnabled(enabled: boolean): void {
    this.enabled = enabled;
    this.changed.fire(undefined);
  }

  update(index: ClaimIndex): void {
    const before = ClaimDecorations.key(this.index);
    this.index = index;
    if (before !== ClaimDecorations.key(index)) this.changed.fire(undefined);
  }

  /**
   * What the badges depend on. The project too: each folder's store counts fencing tokens from 1, so another
   * folder's claim on the same path with the same token is another badge.
   */
  private static key(index: ClaimIndex): string {
    return index.resources.map((c) => `${c.project ?? ''}:${c.resource}@${c.fencingToken}`).join('|');
  }

  provideFileDecoration(uri: vscode.Uri): vscode.FileDecoration | undefined {
    if (!this.enabled) return undefined;
    const claim = this.index.claimOn(uri);
    if (!claim) return undefined;
    return { badge: 'C', tooltip: this.index.describe(claim), color: new vscode.ThemeColor('list.warningForeground'), propagate: false };
  }

  dispose(): void {
    this.changed.dispose();
  }
}
