// Runs in a multi-root workspace (a .code-workspace with two folders, each its own project).
import * as assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import * as vscode from 'vscode';
import type { Container } from '../../../src/extension/container';
import { eventually } from './eventually';

/** An agent whose MCP roots put it in `root`, or in the default root. */
async function agentIn(c: Container, name: string, root?: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const run = c.current!;
  const client = new Client({ name, version: '1' }, root ? { capabilities: { roots: {} } } : {});
  if (root)
    client.setRequestHandler(ListRootsRequestSchema, async () => ({
      roots: [{ uri: pathToFileURL(root).href, name: path.basename(root) }],
    }));
  const transport = new StreamableHTTPClientTransport(new URL(run.url!), {
    requestInit: { headers: { Authorization: `Bearer ${run.token}` } },
  });
  await client.connect(transport);
  return { client, transport };
}

suite('R-SEC-7: a multi-root workspace', () => {
  test("R-SEC-7: a session rooted in the second folder claims in that folder's project; the panel shows it under the folder; Release Claim releases it there", async () => {
    const folders = vscode.workspace.workspaceFolders ?? [];
    assert.equal(folders.length, 2, 'the workspace has two folders');
    const [first, second] = folders.map((f) => f.uri.fsPath) as [string, string];
    const ext = vscode.extensions.getExtension<Container>('session-coordinator.session-coordinator')!;
    const c = ext.isActive ? ext.exports : await ext.activate();
    await c.ready;
    const inSecond = await agentIn(c, 'second-folder-agent', second);
    const inFirst = await agentIn(c, 'first-folder-agent');
    const granted = await inSecond.client.callTool({ name: 'claim_acquire', arguments: { resource: 'src/app.ts' } });
    assert.notEqual(granted.isError, true, JSON.stringify(granted.content));
    const claim = granted.structuredContent as { resource: string; fencingToken: number };
    assert.equal(claim.resource, 'src/app.ts');
    // The first folder's src/app.ts is another file.
    const alsoGranted = await inFirst.client.callTool({ name: 'claim_acquire', arguments: { resource: 'src/app.ts' } });
    assert.notEqual(alsoGranted.isError, true, JSON.stringify(alsoGranted.content));
    assert.ok(existsSync(path.join(second, '.session-coordinator')), 'the second folder keeps its own store');
    assert.ok(existsSync(path.join(first, '.session-coordinator')), "beside the first folder's");
    // Both claims in one state: the second folder's under its name, the first folder's as before.
    const claims = await eventually('both claims in the panel', () =>
      c.state && c.state.claims.length === 2 ? c.state.claims : undefined,
    );
    const shown = claims.find((x) => x.projectName === path.basename(second));
    assert.ok(shown, JSON.stringify(claims));
    assert.equal(shown.resource, 'src/app.ts');
    assert.equal(shown.holderClient, 'second-folder-agent');
    assert.ok(
      claims.some((x) => x.resource === 'src/app.ts' && !x.project && x.holderClient === 'first-folder-agent'),
      JSON.stringify(claims),
    );
    assert.equal(c.state!.acrossWorktrees.length, 0, "two folders' files are not one file in two worktrees");
    // The Explorer badges (R-CLM-4): each folder's src/app.ts by its own holder, nothing on a file nobody claimed.
    const badge = (folder: string, file: string): vscode.FileDecoration | undefined =>
      c.decorationOf(vscode.Uri.file(path.join(folder, 'src', file)));
    const secondBadge = await eventually("the badge on the second folder's app.ts", () => badge(second, 'app.ts'));
    assert.equal(secondBadge.badge, 'C');
    assert.match(secondBadge.tooltip ?? '', /second-folder-agent/);
    assert.match(badge(first, 'app.ts')?.tooltip ?? '', /first-folder-agent/);
    assert.equal(badge(second, 'other.ts'), undefined, 'an unclaimed file has no badge');
    assert.equal(
      await vscode.commands.executeCommand('sessionCoordinator.releaseClaim', 'src/app.ts', claim.fencingToken, undefined, shown.project),
      true,
    );
    await eventually("the claim released in the second folder's project", () => !c.state?.claims.some((x) => x.project));
    await eventually("the second folder's badge gone", () => badge(second, 'app.ts') === undefined || undefined);
    assert.match(badge(first, 'app.ts')?.tooltip ?? '', /first-folder-agent/, "the first folder's badge stays");
    assert.ok(
      c.state!.claims.some((x) => x.holderClient === 'first-folder-agent'),
      "the first folder's claim stays",
    );
    for (const a of [inSecond, inFirst]) {
      await a.transport.terminateSession();
      await a.client.close();
    }
  });
});
