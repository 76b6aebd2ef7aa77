import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { runCliWith } from '../../support/cliProcesses.js';
import { httpClient, type WhoAmI } from '../../support/mcpClients.js';
import { cliEnv, startServe, TOKEN, type ServeHandle } from '../../support/processes.js';
import { callOk, callRefused, type ClaimView } from '../../support/sharedContext.js';
import { tempDir } from '../../support/workspace.js';

/**
 * A second workspace folder works like the first (R-SEC-7): a session rooted
 * in it claims in that folder's own project, which every window and `serve`
 * opened on that folder shares; the edit guard judges each path in its own
 * project. Real `serve --http` processes, SDK clients, hook processes.
 */

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

function folder(): string {
  const dir = tempDir();
  cleanup.push(dir.remove);
  mkdirSync(path.join(dir.path, 'src'));
  writeFileSync(path.join(dir.path, 'src', 'app.ts'), 'export {};\n');
  return dir.path;
}

async function serveOn(folders: string[], home: string): Promise<ServeHandle> {
  const server = await startServe(
    folders[0]!,
    home,
    folders.slice(1).flatMap((f) => ['--workspace', f]),
  );
  cleanup.push(() => server.stop());
  return server;
}

/** An agent whose MCP roots put it in `root` (R-ROOT-4). */
async function agentIn(server: ServeHandle, name: string, root?: string): Promise<Client & { end(): Promise<void> }> {
  const client = new Client({ name, version: '1' }, root ? { capabilities: { roots: {} } } : {});
  if (root)
    client.setRequestHandler(ListRootsRequestSchema, async () => ({
      roots: [{ uri: pathToFileURL(root).href, name: path.basename(root) }],
    }));
  const transport = new StreamableHTTPClientTransport(new URL(server.url), {
    requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } },
  });
  await client.connect(transport);
  cleanup.push(() => client.close());
  // The agent ends its session (DELETE), as a client that exits cleanly does.
  return Object.assign(client, {
    end: async () => {
      await transport.terminateSession();
      await client.close();
    },
  });
}

function claudeWrite(cwd: string, agentId: string, file: string): string {
  return JSON.stringify({
    session_id: agentId,
    cwd,
    hook_event_name: 'PreToolUse',
    tool_name: 'Write',
    tool_input: { file_path: file, content: 'x' },
    tool_use_id: 'toolu_1',
  });
}

test("R-SEC-7: a session rooted in a second workspace folder claims in that folder's project, shared with a serve opened on it; the guard judges each path in its own project; claims go when the session does", async () => {
  const first = folder();
  const second = folder();
  const home = tempDir();
  cleanup.push(home.remove);
  const window = await serveOn([first, second], home.path);

  // Before: every claim of a session rooted in the second folder was "outside the project root".
  // Its first call is the claim: the agent's declared roots are read before the path is (not only by whoami).
  const x = await agentIn(window, 'Agent X', second);
  const held = await callOk<ClaimView>(x, 'claim_acquire', { resource: 'src/app.ts', ttlSeconds: 600 });
  assert.equal(held.resource, 'src/app.ts', "named from the second folder's root");
  assert.equal(((await x.callTool({ name: 'whoami', arguments: {} })).structuredContent as WhoAmI).root, second);

  // The first folder's src/app.ts is another file: no collision.
  const z = await agentIn(window, 'Agent Z');
  assert.equal((await callOk<ClaimView>(z, 'claim_acquire', { resource: 'src/app.ts' })).resource, 'src/app.ts');
  assert.deepEqual(
    (await callOk<{ claims: ClaimView[] }>(z, 'claim_list', {})).claims.map((c) => c.holder.clientName),
    ['Agent Z'],
    'each project lists its own claims',
  );

  // Another participant opened on the second folder alone sees X's claim and is refused.
  const other = await serveOn([second], home.path);
  const y = (await httpClient(other.url, 'Agent Y')).client;
  cleanup.push(() => y.close());
  assert.deepEqual(
    (await callOk<{ claims: ClaimView[] }>(y, 'claim_list', {})).claims.map((c) => `${c.resource} ${c.holder.clientName}`),
    ['src/app.ts Agent X'],
  );
  assert.match(await callRefused(y, 'claim_acquire', { resource: 'src/app.ts' }), /src\/app\.ts is claimed by session .*Agent X/);

  // The edit guard: a path in the second folder is judged there, whichever participant answers.
  const env = cliEnv(home.path);
  const denied = await runCliWith(['hook', 'claude-code'], env, {
    stdin: claudeWrite(second, 'beta-0001', path.join(second, 'src', 'app.ts')),
    timeoutMs: 15_000,
  });
  assert.equal(denied.code, 2, denied.stderr);
  assert.match(denied.stderr, /src\/app\.ts is claimed by session .*Agent X/);
  const free = await runCliWith(['hook', 'claude-code'], env, {
    stdin: claudeWrite(first, 'beta-0001', path.join(second, 'src', 'new.ts')),
    timeoutMs: 15_000,
  });
  assert.equal(free.code, 0, free.stderr);
  const listed = (await callOk<{ claims: ClaimView[] }>(y, 'claim_list', {})).claims;
  assert.ok(
    listed.some((c) => c.resource === 'src/new.ts'),
    `the guard's claim is in the second folder's project: ${JSON.stringify(listed)} ${free.stdout} ${free.stderr} ${window.stderr()}`,
  );
  // A path in the first folder, from the same hook: judged in the first folder's project (Z holds its src/app.ts).
  const inFirst = await runCliWith(['hook', 'claude-code'], env, {
    stdin: claudeWrite(first, 'beta-0001', path.join(first, 'src', 'app.ts')),
    timeoutMs: 15_000,
  });
  assert.equal(inFirst.code, 2, inFirst.stderr);
  assert.match(inFirst.stderr, /Agent Z/);

  // X goes: its claim in the second folder's project goes with it (R-CLM-3), seen by the other participant.
  await x.end();
  let granted: ClaimView | undefined;
  for (let i = 0; i < 100 && !granted; i++) {
    granted = await callOk<ClaimView>(y, 'claim_acquire', { resource: 'src/app.ts' }).catch(() => undefined);
    if (!granted) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(granted, "X's claim was released when its session ended");
});
