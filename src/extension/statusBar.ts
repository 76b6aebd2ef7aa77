import * as vscode from 'vscode';
import type { PanelState } from './views/healthProtocol.js';

export const SHOW_PANEL_COMMAND = 'sessionCoordinator.showPanel';

/** Live session count and health; a click opens the panel. */
export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('sessionCoordinator.status', vscode.StatusBarAlignment.Left, 50);

  constructor() {
    this.item.name = 'Session Coordinator';
    this.item.command = SHOW_PANEL_COMMAND;
    this.item.text = '$(loading~spin) Sessions';
    this.item.tooltip = 'Session Coordinator is starting';
  }

  setVisible(visible: boolean): void {
    if (visible) this.item.show();
    else this.item.hide();
  }

  update(state: PanelState): void {
    const count = state.sessions.length;
    const icon =
      state.status === 'ok'
        ? '$(broadcast)'
        : state.status === 'restricted'
          ? '$(shield)'
          : state.status === 'degraded'
            ? '$(warning)'
            : '$(error)';
    // Files this worktree changes that another worktree changes too: what will meet at merge time.
    const shared = (state.acrossWorktrees ?? []).filter((o) => o.here);
    this.item.text = `${icon} ${count} session${count === 1 ? '' : 's'}${shared.length ? ` $(git-merge) ${shared.length}` : ''}`;
    this.item.tooltip = new vscode.MarkdownString(
      [
        `**Session Coordinator**: ${state.statusText}`,
        ...state.problems.map((p) => `- ${p.message}${p.action ? ` — ${p.action}` : ''}`),
        ...(shared.length
          ? [
              '',
              `Also changed in another worktree: ${shared.map((o) => `\`${o.resource}\` (${o.worktrees.map((w) => w.worktree).join(', ')})`).join('; ')}`,
            ]
          : []),
        '',
        'Click to open Session Health',
      ].join('\n'),
    );
    this.item.backgroundColor =
      state.status === 'error'
        ? new vscode.ThemeColor('statusBarItem.errorBackground')
        : state.status === 'ok' && shared.length === 0
          ? undefined
          : new vscode.ThemeColor('statusBarItem.warningBackground');
    this.item.accessibilityInformation = { label: `Session Coordinator: ${state.statusText}` };
  }

  showError(message: string): void {
    this.item.text = '$(error) Sessions';
    this.item.tooltip = message;
    this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
  }

  dispose(): void {
    this.item.dispose();
  }
}
