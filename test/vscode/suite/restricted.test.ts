// Runs in a window whose workspace is NOT trusted (code-server started without --disable-workspace-trust).
import * as assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Container } from '../../../src/extension/container';

suite('R-EXT-4: Restricted Mode', () => {
  test('R-EXT-4: in an untrusted workspace nothing is written there, and the panel and status bar say why', async () => {
    assert.equal(vscode.workspace.isTrusted, false, 'this suite runs in an untrusted workspace');
    const ext = vscode.extensions.getExtension<Container>('session-coordinator.session-coordinator')!;
    const c = ext.isActive ? ext.exports : await ext.activate();
    await c.ready;
    const deadline = Date.now() + 10_000;
    while (!c.state && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(c.state?.status, 'restricted');
    assert.match(c.state!.problems.map((p) => p.message).join(' '), /not trusted/);
    const folder = vscode.workspace.workspaceFolders![0]!.uri.fsPath;
    assert.equal(existsSync(path.join(folder, '.session-coordinator')), false, 'no store folder in an untrusted workspace');
    assert.ok(c.current?.url, 'agents are still served, local-only');
  });
});
