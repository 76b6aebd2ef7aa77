import * as vscode from 'vscode';
import type { CoordinatorRun } from '../run/coordinatorRun.js';

export const MCP_PROVIDER_ID = 'sessionCoordinator.mcp';
export const MCP_SERVER_LABEL = 'Session Coordinator';

/**
 * Tells VS Code (agent mode) where this window's coordinator listens, so no
 * one writes config by hand (R-MCP-5). The token travels in the definition's
 * headers: it never lands in a file the user edits or in tool output.
 */
export class McpServerProvider implements vscode.McpServerDefinitionProvider<vscode.McpHttpServerDefinition>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeMcpServerDefinitions = this.changed.event;
  private run: CoordinatorRun | undefined;

  setRun(run: CoordinatorRun | undefined): void {
    this.run = run;
    this.changed.fire();
  }

  provideMcpServerDefinitions(): vscode.McpHttpServerDefinition[] {
    const run = this.run;
    if (!run?.url) return [];
    return [
      new vscode.McpHttpServerDefinition(MCP_SERVER_LABEL, vscode.Uri.parse(run.url), { Authorization: `Bearer ${run.token}` }, '0.1.0'),
    ];
  }

  dispose(): void {
    this.changed.dispose();
  }
}
