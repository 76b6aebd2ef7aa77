import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { runCliWith } from '../../support/cliProcesses.js';
import { httpClient } from '../../support/mcpClients.js';
import { cliEnv, startServe, type ServeHandle } from '../../support/processes.js';
import { callOk, callRefused, type ClaimView } from '../../support/sharedContext.js';
import { tempDir, workspaceAndHome } from '../../support/workspace.js';

/**
 * Claims name files, not spellings (R-CLM-1, R-AGT-4): every way of naming a
 * held file, a symlink into it included, is refused over MCP and through the
 * edit guard; symlinks out of the project and symlink loops get a clear
 * refusal; on a disk that ignores case, another case is the same file.
 * Real `serve --http`, real SDK clients, real hook processes, real mounts.
 */

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

async function agent(server: ServeHandle, name: string): Promise<Awaited<ReturnType<typeof httpClient>>> {
  const c = await httpClient(server.url, name);
  cleanup.push(async () => {
    await c.transport.terminateSession().catch(() => undefined);
    await c.client.close();
  });
  return c;
}

function claudeWrite(ws: string, agentId: string, file: string): string {
  return JSON.stringify({
    session_id: agentId,
    cwd: ws,
    hook_event_name: 'PreToolUse',
    tool_name: 'Write',
    tool_input: { file_path: file, content: 'x' },
    tool_use_id: 'toolu_1',
  });
}

test('R-CLM-1, R-AGT-4: while A holds src/app.ts, every spelling of it is refused to B, over MCP and through the guard, a symlink into the project included', async () => {
  const { ws, home } = workspaceAndHome(cleanup);
  mkdirSync(path.join(ws, 'src'));
  writeFileSync(path.join(ws, 'src', 'app.ts'), 'export {};\n');
  symlinkSync('src', path.join(ws, 'link'));
  const server = await startServe(ws, home);
  cleanup.push(() => server.stop());
  const a = await agent(server, 'Agent Alpha');
  const b = await agent(server, 'Agent Beta');
  const held = await callOk<ClaimView>(a.client, 'claim_acquire', { resource: 'src/app.ts', ttlSeconds: 600 });

  const spellings = [
    './src/app.ts',
    'src//app.ts',
    path.join(ws, 'src', 'app.ts'),
    'src/../src/app.ts',
    `../${path.basename(ws)}/src/app.ts`,
    'src/app.ts/',
    'src',
    '.',
    'link/app.ts',
    'link',
    'link/../src/app.ts',
    path.join(ws, 'link', 'app.ts'),
  ];
  for (const resource of spellings) {
    const refused = await callRefused(b.client, 'claim_acquire', { resource });
    assert.match(
      refused,
      /is claimed .*src\/app\.ts.* by session .*Agent Alpha|src\/app\.ts is claimed by session .*Agent Alpha/,
      `${resource}: ${refused}`,
    );
    assert.ok(refused.includes(held.expiresAt), `${resource}: names the expiry: ${refused}`);
  }
  const viaLink = await callRefused(b.client, 'claim_acquire', { resource: 'link/app.ts' });
  assert.match(viaLink, /^ClaimConflict: link\/app\.ts is src\/app\.ts here: /, "the refusal is told in the agent's own spelling too");

  // A file that does not exist yet is claimed by the path it will have, through the link too.
  const created = await callOk<ClaimView>(b.client, 'claim_acquire', { resource: 'link/new.ts' });
  assert.equal(created.resource, 'src/new.ts');
  assert.match(await callRefused(a.client, 'claim_acquire', { resource: 'src/new.ts' }), /Agent Beta/);

  // The edit guard: the same file through the symlink, and through the symlinked path of the project.
  const env = cliEnv(home);
  const viaLinkEdit = await runCliWith(['hook', 'claude-code'], env, {
    stdin: claudeWrite(ws, 'beta-0001', path.join(ws, 'link', 'app.ts')),
    timeoutMs: 15_000,
  });
  assert.equal(viaLinkEdit.code, 2, viaLinkEdit.stderr);
  assert.match(viaLinkEdit.stderr, /link\/app\.ts is src\/app\.ts here: src\/app\.ts is claimed by session .*Agent Alpha/);
  const dotted = await runCliWith(['hook', 'claude-code'], env, {
    stdin: claudeWrite(ws, 'beta-0001', `${ws}/src/./../src//app.ts`),
    timeoutMs: 15_000,
  });
  assert.equal(dotted.code, 2, dotted.stderr);
  const free = await runCliWith(['hook', 'claude-code'], env, {
    stdin: claudeWrite(ws, 'beta-0001', path.join(ws, 'link', 'other.ts')),
    timeoutMs: 15_000,
  });
  assert.equal(free.code, 0, free.stderr);
  const { claims } = await callOk<{ claims: ClaimView[] }>(a.client, 'claim_list', {});
  assert.ok(
    claims.some((c) => c.resource === 'src/other.ts'),
    `the guard claimed the real path: ${claims.map((c) => c.resource).join(', ')}`,
  );
  assert.ok(!claims.some((c) => c.resource.startsWith('link')), "no claim is stored under a symlink's name");
});

test('R-CLM-1: a symlink out of the project is refused with where it leads; a symlink loop is refused at once; the guard lets edits outside the project alone', async () => {
  const { ws, home } = workspaceAndHome(cleanup);
  const outside = tempDir('sc-outside-');
  cleanup.push(outside.remove);
  symlinkSync(outside.path, path.join(ws, 'out'));
  symlinkSync('loop-b', path.join(ws, 'loop-a'));
  symlinkSync('loop-a', path.join(ws, 'loop-b'));
  const server = await startServe(ws, home);
  cleanup.push(() => server.stop());
  const a = await agent(server, 'prober');

  const out = await callRefused(a.client, 'claim_acquire', { resource: 'out/secret.ts' });
  assert.match(out, /Claim path out\/secret\.ts is outside the project root/);
  assert.ok(out.includes(path.join(outside.path, 'secret.ts')), `names where the link leads: ${out}`);
  const loop = await callRefused(a.client, 'claim_acquire', { resource: 'loop-a/x.ts' });
  assert.match(loop, /loop-a\/x\.ts goes through a symlink loop/);
  // The session is fine after both.
  assert.equal((await callOk<ClaimView>(a.client, 'claim_acquire', { resource: 'fine.ts' })).resource, 'fine.ts');

  const env = cliEnv(home);
  const outEdit = await runCliWith(['hook', 'claude-code'], env, {
    stdin: claudeWrite(ws, 'p-1', path.join(ws, 'out', 'x.ts')),
    timeoutMs: 15_000,
  });
  assert.equal(outEdit.code, 0, "outside the project: not the guard's to decide");
  const { claims } = await callOk<{ claims: ClaimView[] }>(a.client, 'claim_list', {});
  assert.deepEqual(
    claims.map((c) => c.resource),
    ['fine.ts'],
    'nothing was claimed for the refused paths',
  );
});

test('R-CLM-1: a workspace opened through a symlink (every /tmp path on macOS) grants claims and refuses the same file by its real path', async () => {
  const { ws, home } = workspaceAndHome(cleanup);
  mkdirSync(path.join(ws, 'sub'));
  const links = mkdtempSync(path.join(os.tmpdir(), 'sc-links-'));
  cleanup.push(async () => rmSync(links, { recursive: true, force: true }));
  const linkedWs = path.join(links, 'link-ws');
  symlinkSync(ws, linkedWs);
  const server = await startServe(linkedWs, home);
  cleanup.push(() => server.stop());
  const a = await agent(server, 'linked');
  const b = await agent(server, 'other');
  assert.equal((await callOk<ClaimView>(a.client, 'claim_acquire', { resource: 'sub/file.ts' })).resource, 'sub/file.ts');
  assert.match(await callRefused(b.client, 'claim_acquire', { resource: path.join(ws, 'sub', 'file.ts') }), /sub\/file\.ts is claimed/);
  assert.match(
    await callRefused(b.client, 'claim_acquire', { resource: path.join(linkedWs, 'sub') }),
    /sub is claimed \(through sub\/file\.ts\)/,
  );
});

/** A FAT file system (case-insensitive, as macOS and Windows defaults are) mounted through FUSE, or why not. */
function caseInsensitiveMount(): { path: string; unmount(): void } | string {
  if (process.getuid?.() !== 0) return 'mounting needs root';
  for (const tool of ['mkfs.vfat', 'fusefat', 'fusermount']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0)
      return `${tool} is not installed (scripts/test.mjs installs dosfstools and fusefat)`;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sc-vfat-'));
  const image = path.join(dir, 'disk.img');
  const mount = path.join(dir, 'mnt');
  mkdirSync(mount);
  writeFileSync(image, Buffer.alloc(32 * 1024 * 1024));
  const steps = [spawnSync('mkfs.vfat', [image]), spawnSync('fusefat', ['-o', 'rw+', image, mount])];
  const failed = steps.find((s) => s.status !== 0);
  if (failed) {
    rmSync(dir, { recursive: true, force: true });
    return `the FAT image could not be mounted: ${failed.stderr?.toString().trim() || failed.error?.message}`;
  }
  return {
    path: mount,
    unmount: () => {
      spawnSync('fusermount', ['-u', mount]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test("R-CLM-1: on a disk that ignores case, SRC/app.ts is src/app.ts: refused to B, stored in one case, told in B's spelling", async (t) => {
  const mounted = caseInsensitiveMount();
  if (typeof mounted === 'string') {
    t.skip(`no case-insensitive disk on this machine: ${mounted}`);
    return;
  }
  cleanup.push(async () => mounted.unmount());
  const ws = path.join(mounted.path, 'Project');
  mkdirSync(path.join(ws, 'Src'), { recursive: true });
  writeFileSync(path.join(ws, 'Src', 'App.ts'), 'export {};\n');
  const home = tempDir('sc-home-');
  cleanup.push(home.remove);
  const server = await startServe(ws, home.path);
  cleanup.push(() => server.stop());
  const a = await agent(server, 'Agent Alpha');
  const b = await agent(server, 'Agent Beta');
  const held = await callOk<ClaimView>(a.client, 'claim_acquire', { resource: 'Src/App.ts' });
  assert.equal(held.resource, 'src/app.ts', 'stored in the one case claims are compared in');
  for (const resource of ['src/app.ts', 'SRC/APP.TS', 'src', path.join(mounted.path, 'PROJECT', 'src', 'App.ts')]) {
    assert.match(await callRefused(b.client, 'claim_acquire', { resource }), /(src\/app\.ts|src) is claimed .*Agent Alpha/, resource);
  }
  assert.match(
    await callRefused(b.client, 'claim_acquire', { resource: 'SRC/APP.TS' }),
    /^ClaimConflict: SRC\/APP\.TS is src\/app\.ts here: /,
  );
  const edit = await runCliWith(['hook', 'claude-code'], cliEnv(home.path), {
    stdin: claudeWrite(ws, 'beta-1', path.join(ws, 'SRC', 'app.TS')),
    timeoutMs: 15_000,
  });
  assert.equal(edit.code, 2, edit.stderr);
  assert.match(edit.stderr, /src\/app\.ts is claimed/);
});
