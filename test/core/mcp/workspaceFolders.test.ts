import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { escapeRegExp, runCliWith } from '../../support/cliProcesses.js';
import { git } from '../../support/gitRepository.js';
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

/** whoami's answer, with where the claims live and who is live there. */
type WhoAmIThere = WhoAmI & {
  store: { location: string };
  claimsStore?: { location: string };
  participants: Array<{ participantId: string }>;
};

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
  const xIs = (await x.callTool({ name: 'whoami', arguments: {} })).structuredContent as WhoAmIThere;
  assert.equal(xIs.root, second);
  // whoami tells where X's claims live, and lists that project's participants: the id holding X's claim is there.
  assert.ok(xIs.claimsStore?.location.startsWith(second), `claims in the second folder's store: ${JSON.stringify(xIs.claimsStore)}`);
  assert.ok(!xIs.store.location.startsWith(second), 'shared context stays in the first folder');
  assert.ok(
    xIs.participants.some((p) => p.participantId === held.holder.participantId),
    `the claim's holder is among whoami's participants: ${held.holder.participantId} in ${JSON.stringify(xIs.participants)}`,
  );

  // The first folder's src/app.ts is another file: no collision.
  const z = await agentIn(window, 'Agent Z');
  const zHeld = await callOk<ClaimView>(z, 'claim_acquire', { resource: 'src/app.ts' });
  assert.equal(zHeld.resource, 'src/app.ts');
  const zIs = (await z.callTool({ name: 'whoami', arguments: {} })).structuredContent as WhoAmIThere;
  assert.equal(zIs.claimsStore, undefined, 'a first-folder session claims where its context is');
  assert.ok(zIs.participants.some((p) => p.participantId === zHeld.holder.participantId));
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

interface StatusJson {
  participants: Array<{ snapshot?: { claims: ClaimView[]; store: { location: string } } }>;
}

test("R-SEC-7, R-CLI-3: status --workspace <second folder> shows that folder's project: its claims, its store and its worktree, not the first folder's", async () => {
  // Two repositories: the worktree status names comes from the asked folder's project.
  const [first, second] = [folder(), folder()];
  for (const dir of [first, second]) git(dir, 'init', '-q');
  const home = tempDir();
  cleanup.push(home.remove);
  const window = await serveOn([first, second], home.path);
  const x = await agentIn(window, 'Agent X', second);
  await callOk<ClaimView>(x, 'claim_acquire', { resource: 'src/app.ts' });
  const z = await agentIn(window, 'Agent Z');
  await callOk<ClaimView>(z, 'claim_acquire', { resource: 'src/z-only.ts' });

  const env = cliEnv(home.path);
  const asJson = async (dir: string): Promise<{ claims: string[]; store: string }> => {
    const res = await runCliWith(['status', '--json', '--workspace', dir], env, { timeoutMs: 15_000 });
    assert.equal(res.code, 0, res.stderr);
    const snapshot = (JSON.parse(res.stdout) as StatusJson).participants[0]?.snapshot;
    assert.ok(snapshot, res.stdout);
    return { claims: snapshot.claims.map((c) => `${c.resource} ${c.holder.clientName}`), store: snapshot.store.location };
  };
  const inSecond = await asJson(second);
  // Before: the first folder's claims and store, whichever folder was asked.
  assert.deepEqual(inSecond.claims, ['src/app.ts Agent X']);
  assert.ok(inSecond.store.startsWith(second), `the second folder's store: ${inSecond.store}`);
  const inFirst = await asJson(first);
  assert.deepEqual(inFirst.claims, ['src/z-only.ts Agent Z']);
  assert.ok(inFirst.store.startsWith(first), `the first folder's store: ${inFirst.store}`);

  const text = await runCliWith(['status', '--workspace', path.join(second, 'src')], env, { timeoutMs: 15_000 });
  assert.equal(text.code, 0, text.stderr);
  // Named as a person knows it: the checkout's folder and its branch.
  assert.match(
    text.stdout,
    new RegExp(`^ {2}sessions: 2 {2}worktree: ${escapeRegExp(path.basename(second))} \\(branch main\\)$`, 'm'),
    text.stdout,
  );
  assert.doesNotMatch(text.stdout, new RegExp(`worktree: ${escapeRegExp(path.basename(first))}`), text.stdout);
  assert.match(text.stdout, /^ {4}src\/app\.ts {2}held by Agent X/m);
  // The window's sessions in its other folder are listed too, each saying where it works; those here do not.
  const sessionLine = (name: string): string => text.stdout.split('\n').find((l) => l.includes(` ${name} 1 `)) ?? '';
  assert.match(sessionLine('Agent Z'), new RegExp(`active {2}root=${escapeRegExp(first)} {2}requests=`), text.stdout);
  assert.doesNotMatch(sessionLine('Agent X'), /root=/, text.stdout);
  assert.doesNotMatch(text.stdout, /z-only/);
});
