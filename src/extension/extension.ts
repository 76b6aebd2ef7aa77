import * as vscode from 'vscode';
import { errorMessage } from '../core/errors.js';
import { Container } from './container.js';

let container: Container | undefined;

/** Builds the composition root; everything it owns is disposed with the extension. */
export function activate(context: vscode.ExtensionContext): Container {
  try {
    container = new Container(context);
    context.subscriptions.push(container);
    // Not awaited: the coordinator starts in the background, activation stays short; `ready` says when.
    void container.start();
    return container;
  } catch (e) {
    // VS Code does not tell the user when an extension fails to activate, so we do.
    void vscode.window.showErrorMessage(`Session Coordinator failed to activate: ${errorMessage(e)}`);
    throw e;
  }
}

export async function deactivate(): Promise<void> {
  await container?.dispose();
  container = undefined;
}
