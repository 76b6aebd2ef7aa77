import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, realpathSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { findGitLayout } from '../../../src/core/repository/gitLayout.js';
import { WORKTREE_FALLBACK_MS, watchWorktrees } from '../../../src/core/repository/worktreeWatch.js';
import { projectIdFor } from '../../../src/core/store/redis/projectId.js';
import { runCliWith } from '../../support/cliProcesses.js';
import { httpClient, whoami } from '../../support/mcpClients.js';
import { git, repositoryWithWorktree, type TwoCheckouts } from '../../support/gitRepository.js';
import { cliEnv, startServe } from '../../support/processes.js';
import { callOk, callRefused } from '../../support/sharedContext.js';
import { tempDir } from '../../support/workspace.js';

/**
 * One project across a repository's git worktrees (issue 17, first step):
 * real repositories, real `git worktree add`, a real `serve` in each
 * checkout, real SDK clients and hook processes.
 */

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
});

/** A repository with one commit, its main checkout and a linked worktree on branch feature; removed after the tests. */
function repository(): TwoCheckouts {
  const repo = repositoryWithWorktree();
  cleanup.push(repo.remove);
  return repo;
}

async function twoWorktrees(
  args: string[] = [],
): Promise<{ repo: ReturnType<typeof repository>; a: Awaited<ReturnType<typeof httpClient>>; b: Awaited<ReturnType<typeof httpClient>> }> {
  const repo = repository();
  const [inMain, inFeature] = await Promise.all([startServe(repo.main, repo.home, args), startServe(repo.feature, repo.home, args)]);
  cleanup.push(
    () => inMain.stop(),
    () => inFeature.stop(),
  );
  const a = await httpClient(inMain.url, 'agent-in-main');
  const b = await httpClient(inFeature.url, 'agent-in-feature');
  cleanup.push(
    () => a.client.close(),
    () => b.client.close(),
  );
  return { repo, a, b };
}

interface ClaimOut {
  resource: string;
  checkout?: string;
  holder: { clientName: string; worktree?: string };
  warning?: string;
  alsoClaimedIn?: Array<{ resource: string; checkout?: string; holder: { clientName: string } }>;
}

test('R-CLM-5, R-CTX-1: two worktrees of one repository are one project: context written in main is read in feature; the same file claimed in both is granted with a warning naming the other holder, its worktree and branch', async () => {
  const { repo, a, b } = await twoWorktrees();
  const common = realpathSync(path.join(repo.main, '.git'));
  assert.ok(existsSync(path.join(common, 'session-coordinator', 'ns')), 'the store is in the common git folder');
  assert.ok(
    !existsSync(path.join(repo.main, '.session-coordinator')) && !existsSync(path.join(repo.feature, '.session-coordinator')),
    'and in no checkout, where it could be committed',
  );

  await callOk(a.client, 'context_set', { namespace: 'plan', key: 'step', value: 'migrate the API' });
  const got = await callOk<{ value?: unknown }>(b.client, 'context_get', { namespace: 'plan', key: 'step' });
  assert.equal(got.value, 'migrate the API', 'feature reads the plan written in main');

  const meA = (await whoami(a.client)) as unknown as { worktree?: { path: string; branch?: string } };
  const meB = (await whoami(b.client)) as unknown as { worktree?: { path: string; branch?: string } };
  assert.deepEqual(meA.worktree, { path: repo.main, branch: 'main' });
  assert.deepEqual(meB.worktree, { path: repo.feature, branch: 'feature' });

  const first = await callOk<ClaimOut>(a.client, 'claim_acquire', { resource: 'a.txt' });
  assert.deepEqual([first.checkout, first.warning], [repo.main, undefined]);
  const second = await callOk<ClaimOut>(b.client, 'claim_acquire', { resource: 'a.txt' });
  assert.equal(second.checkout, repo.feature, 'granted in feature');
  assert.deepEqual(
    second.alsoClaimedIn?.map((c) => [c.resource, c.checkout, c.holder.clientName]),
    [['a.txt', repo.main, 'agent-in-main']],
  );
  assert.match(
    second.warning ?? '',
    /another worktree of this repository is changing what you edit.*\n- a\.txt: session [0-9a-f-]+ \(agent-in-main\) in worktree main \(branch main\), until /s,
  );
  // Within one worktree nothing changed: a second agent in feature is refused.
  const third = await startServe(repo.feature, repo.home);
  cleanup.push(() => third.stop());
  const c = await httpClient(third.url, 'second-in-feature');
  cleanup.push(() => c.client.close());
  assert.match(
    await callRefused(c.client, 'claim_acquire', { resource: 'a.txt' }),
    /^ClaimConflict: a\.txt is claimed by session .* \(agent-in-feature\) in worktree feature \(branch feature\)/,
  );
  const listed = await callOk<{ claims: ClaimOut[] }>(c.client, 'claim_list', {});
  assert.deepEqual(
    listed.claims.map((x) => [x.resource, x.checkout]).sort(),
    [
      ['a.txt', repo.feature],
      ['a.txt', repo.main],
    ],
    'one file, two worktrees',
  );
  // The conflict radar, in both worktrees' status.
  for (const ws of [repo.main, repo.feature]) {
    const status = await runCliWith(['status', '--json', '--workspace', ws], cliEnv(repo.home));
    assert.equal(status.code, 0, status.stderr);
    const radar = (
      JSON.parse(status.stdout) as {
        participants: Array<{
          snapshot?: { acrossWorktrees: Array<{ resource: string; worktrees: Array<{ checkout: string; worktree?: string }> }> };
        }>;
      }
    ).participants[0]?.snapshot?.acrossWorktrees;
    assert.deepEqual(
      radar?.map((o) => [o.resource, o.worktrees.map((w) => w.worktree).sort()]),
      [['a.txt', ['feature (branch feature)', 'main (branch main)']]],
      `the radar in ${ws}`,
    );
    const text = await runCliWith(['status', '--workspace', ws], cliEnv(repo.home));
    assert.match(text.stdout, /across worktrees: a\.txt is changed in (main|feature) \(branch \w+\) \(.*\) and /);
    assert.match(
      text.stdout,
      new RegExp(`sessions: \\d+  worktree: ${path.basename(ws)} \\(branch ${path.basename(ws)}\\)`),
      'each participant says which worktree and branch its sessions are in',
    );
  }
});

test("R-MCP-3, R-CLM-5: in a git repository every tool result that names a writer, holder or sender passes the SDK client's own output-schema check (worktree and checkout included)", async () => {
  const { a, b } = await twoWorktrees();
  // The SDK client checks structuredContent against the output schemas it has listed; unlisted, it checks nothing.
  await a.client.listTools();
  await b.client.listTools();
  await callOk(a.client, 'context_set', { namespace: 'notes', key: 'k', value: { x: 1 } });
  const got = await callOk<{ updatedBy: { worktree?: string; checkout?: string } }>(b.client, 'context_get', {
    namespace: 'notes',
    key: 'k',
  });
  assert.ok(got.updatedBy.worktree && got.updatedBy.checkout, "the writer's worktree and checkout are in the result");
  await callOk(b.client, 'context_list', { namespace: 'notes' });
  await callOk(b.client, 'context_history', { namespace: 'notes' });
  const claim = await callOk<{ fencingToken: number }>(a.client, 'claim_acquire', { resource: 'a.txt' });
  await callOk(a.client, 'claim_renew', { resource: 'a.txt', fencingToken: claim.fencingToken });
  const other = await callOk<ClaimOut>(b.client, 'claim_acquire', { resource: 'a.txt' });
  assert.ok(other.alsoClaimedIn?.[0]?.holder, "the other worktree's claim, with its holder");
  const listed = await callOk<{ claims: ClaimOut[] }>(b.client, 'claim_list', {});
  assert.equal(listed.claims.length, 2);
  await callOk(a.client, 'message_send', { to: 'all', body: 'hello from main' });
  const inbox = await callOk<{ messages: Array<{ from: { worktree?: string } }> }>(b.client, 'message_inbox', {});
  assert.ok(
    inbox.messages.some((m) => m.from.worktree),
    "the sender's worktree is in the inbox",
  );
});

test('R-CLM-5, R-AGT-4: under "warn" the edit guard lets an agent in feature edit a file claimed in main and tells its model who and where; under "refuse" the edit and the claim are refused', async () => {
  const { repo, a } = await twoWorktrees();
  await callOk(a.client, 'claim_acquire', { resource: 'a.txt' });
  const edit = (ws: string, id: string, home = repo.home): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    runCliWith(['hook', 'claude-code'], cliEnv(home), {
      stdin: JSON.stringify({
        session_id: id,
        cwd: ws,
        hook_event_name: 'PreToolUse',
        tool_name: 'Edit',
        tool_input: { file_path: path.join(ws, 'a.txt') },
      }),
    });
  const allowed = await edit(repo.feature, 'agent-in-feature-1');
  assert.equal(allowed.code, 0, allowed.stderr);
  const context =
    (JSON.parse(allowed.stdout) as { hookSpecificOutput?: { additionalContext?: string } }).hookSpecificOutput?.additionalContext ?? '';
  assert.match(context, /another worktree of this repository is changing what you edit/);
  assert.match(context, /a\.txt: session .* \(agent-in-main\) in worktree main \(branch main\)/);
  const again = await edit(repo.feature, 'agent-in-feature-1');
  assert.deepEqual([again.code, again.stdout], [0, ''], 'told once, when the file became its own, not on every edit');

  const strict = await twoWorktrees(['--across-worktrees', 'refuse']);
  await callOk(strict.a.client, 'claim_acquire', { resource: 'a.txt' });
  assert.match(
    await callRefused(strict.b.client, 'claim_acquire', { resource: 'a.txt' }),
    /^ClaimConflict: a\.txt is claimed by session .* \(agent-in-main\) in worktree main \(branch main\)/,
  );
  const denied = await edit(strict.repo.feature, 'agent-in-feature-2', strict.repo.home);
  assert.equal(denied.code, 2, 'the feature participant runs with refuse: the hook asks it');
  assert.match(denied.stderr, /a\.txt is claimed by session .* in worktree main \(branch main\)/);
});

test('R-CLM-5: a worktree removed while its agents run: their sessions end and their claims go, also those made by a hook with no participant', async () => {
  const { repo, a, b } = await twoWorktrees();
  await callOk(b.client, 'claim_acquire', { resource: 'a.txt' });
  // A third worktree with no participant: an agent's hook claims through the store itself.
  const other = `${repo.feature}-other`;
  git(repo.main, 'worktree', 'add', '-q', '-b', 'other', other);
  const edit = await runCliWith(['hook', 'claude-code'], cliEnv(repo.home), {
    stdin: JSON.stringify({
      session_id: 'agent-in-other-1',
      cwd: other,
      hook_event_name: 'PreToolUse',
      tool_name: 'Edit',
      tool_input: { file_path: path.join(other, 'a.txt') },
    }),
  });
  assert.equal(edit.code, 0, edit.stderr);
  const checkouts = async (): Promise<string[]> =>
    (await callOk<{ claims: ClaimOut[] }>(a.client, 'claim_list', {})).claims.map((c) => c.checkout ?? '').sort();
  assert.deepEqual(await checkouts(), [repo.feature, other].sort());
  const removedAt = Date.now();
  git(repo.main, 'worktree', 'remove', '--force', repo.feature);
  git(repo.main, 'worktree', 'remove', '--force', other);
  for (;;) {
    if ((await checkouts()).length === 0) break;
    assert.ok(Date.now() - removedAt < 10_000, `claims of removed worktrees still listed: ${JSON.stringify(await checkouts())}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  console.log(`# claims of removed worktrees gone ${Date.now() - removedAt} ms after git worktree remove`);
  // Any participant may release the claims; the feature participant ends its own sessions on its own check, up to one period later.
  for (;;) {
    const ended = await b.client.callTool({ name: 'whoami', arguments: {} }).then(
      () => false,
      () => true,
    );
    if (ended) break;
    assert.ok(Date.now() - removedAt < 10_000, "the feature agent's session still answers 10 s after its worktree was removed");
    await new Promise((r) => setTimeout(r, 200));
  }
  console.log(`# the feature agent's session ended ${Date.now() - removedAt} ms after git worktree remove`);
});

test('R-CLM-5: a worktree on another file system (tmpfs) shares the project: context written there is read in main, and its claim warns main', async (t) => {
  if (!existsSync('/dev/shm')) return t.skip('no /dev/shm on this machine');
  const repo = repository();
  const elsewhere = mkdtempSync('/dev/shm/sc-worktree-');
  cleanup.push(() => rm(elsewhere, { recursive: true, force: true }));
  const shm = path.join(elsewhere, 'on-tmpfs');
  git(repo.main, 'worktree', 'add', '-q', '-b', 'on-tmpfs', shm);
  const [inMain, inShm] = await Promise.all([startServe(repo.main, repo.home), startServe(shm, repo.home)]);
  cleanup.push(
    () => inMain.stop(),
    () => inShm.stop(),
  );
  const a = await httpClient(inMain.url, 'agent-in-main');
  const b = await httpClient(inShm.url, 'agent-on-tmpfs');
  cleanup.push(
    () => a.client.close(),
    () => b.client.close(),
  );
  await callOk(b.client, 'context_set', { namespace: 'plan', key: 'from', value: 'tmpfs' });
  assert.equal((await callOk<{ value?: unknown }>(a.client, 'context_get', { namespace: 'plan', key: 'from' })).value, 'tmpfs');
  await callOk(b.client, 'claim_acquire', { resource: 'a.txt' });
  const warned = await callOk<ClaimOut>(a.client, 'claim_acquire', { resource: 'a.txt' });
  assert.match(warned.warning ?? '', /agent-on-tmpfs\) in worktree on-tmpfs \(branch on-tmpfs\)/);
});

test("R-CLM-5, R-CTX-1: a repository's state from before worktrees shared a store is left where it was, and the log says where the shared state is now", async () => {
  const repo = repository();
  mkdirSync(path.join(repo.main, '.session-coordinator', 'ns', 'plans'), { recursive: true });
  const server = await startServe(repo.main, repo.home);
  cleanup.push(() => server.stop());
  await new Promise((r) => setTimeout(r, 200));
  assert.match(
    server.stderr(),
    /This project's shared state is now in .*\.git\/session-coordinator, where every git worktree of the repository finds it\. .*\.session-coordinator holds 1 namespace\(s\) from before \(plans\)/,
  );
  assert.ok(existsSync(path.join(repo.main, '.session-coordinator', 'ns', 'plans')), 'nothing was moved or deleted');
});

test('R-CLM-1: a folder opened inside a repository names claims from the top of its checkout, so two windows on different folders of one repository agree', async () => {
  const repo = repository();
  const sub = path.join(repo.main, 'packages', 'app');
  mkdirSync(sub, { recursive: true });
  const inSub = await startServe(sub, repo.home);
  const inTop = await startServe(repo.main, repo.home);
  cleanup.push(
    () => inSub.stop(),
    () => inTop.stop(),
  );
  const a = await httpClient(inSub.url, 'agent-in-sub');
  const b = await httpClient(inTop.url, 'agent-at-top');
  cleanup.push(
    () => a.client.close(),
    () => b.client.close(),
  );
  const granted = await callOk<{ resource: string }>(a.client, 'claim_acquire', { resource: 'index.ts' });
  assert.equal(granted.resource, 'packages/app/index.ts');
  assert.match(await callRefused(b.client, 'claim_acquire', { resource: 'packages/app/index.ts' }), /^ClaimConflict/);
  await callOk(b.client, 'claim_acquire', { resource: 'index.ts' });
});

test("R-CLM-5, R-CTX-9: the git layout is read from git's own files: a worktree, a detached HEAD, no repository, a submodule (its own project), a bare repository's worktree; Redis project ids agree across worktrees without an origin", async () => {
  const repo = repository();
  const main = await findGitLayout(repo.main);
  const feature = await findGitLayout(path.join(repo.feature));
  assert.equal(main?.commonDir, feature?.commonDir, 'one common folder');
  assert.deepEqual([main?.branch, feature?.branch, feature?.worktree], ['main', 'feature', repo.feature]);
  git(repo.feature, 'checkout', '-q', '--detach');
  assert.match((await findGitLayout(repo.feature))?.detachedAt ?? '', /^[0-9a-f]{12}$/);
  assert.equal(
    await projectIdFor(repo.feature),
    await projectIdFor(repo.main),
    'no origin: the repository is its common folder, for both backends',
  );
  const plain = tempDir();
  cleanup.push(plain.remove);
  assert.equal(await findGitLayout(plain.path), undefined);

  // A submodule (and any nested repository) is a project of its own: its git folder has no commondir.
  git(repo.main, '-c', 'protocol.file.allow=always', 'submodule', 'add', '-q', repo.main, 'vendor/lib');
  const sub = await findGitLayout(path.join(repo.main, 'vendor', 'lib'));
  assert.equal(sub?.worktree, path.join(repo.main, 'vendor', 'lib'));
  assert.notEqual(sub?.commonDir, main?.commonDir, 'its own common folder');
  assert.notEqual(await projectIdFor(path.join(repo.main, 'vendor', 'lib')), await projectIdFor(repo.main));

  // A worktree of a bare repository: the bare folder is the common one.
  const bare = path.join(path.dirname(repo.main), 'bare.git');
  git(path.dirname(repo.main), 'clone', '-q', '--bare', repo.main, bare);
  const fromBare = path.join(path.dirname(repo.main), 'from-bare');
  git(bare, 'worktree', 'add', '-q', fromBare, 'main');
  const layout = await findGitLayout(fromBare);
  assert.deepEqual([layout?.worktree, layout?.commonDir, layout?.branch], [fromBare, bare, 'main']);
});

test('R-CLM-5: worktrees are watched, not polled: nothing runs while none changes, and a removal, an addition and the first worktree of a repository are each seen at once', async () => {
  const repo = repository();
  const layout = (await findGitLayout(repo.main))!;
  const seen: number[] = [];
  const watch = watchWorktrees(layout, () => seen.push(Date.now()));
  cleanup.push(async () => watch.dispose());
  await new Promise((r) => setTimeout(r, 600));
  assert.deepEqual(seen, [], 'no check while no worktree changes');
  const waitForCall = async (what: string, since: number): Promise<number> => {
    const deadline = since + 3000;
    while (!seen.some((t) => t >= since)) {
      assert.ok(Date.now() < deadline, `${what}: not seen within 3 s (the fallback timer is ${WORKTREE_FALLBACK_MS} ms)`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return seen.find((t) => t >= since)! - since;
  };
  let t = Date.now();
  git(repo.main, 'worktree', 'remove', '--force', repo.feature);
  const removal = await waitForCall('git worktree remove', t);
  // The repository has no linked worktree now, and no worktrees folder: the next one creates it.
  assert.equal(existsSync(path.join(layout.commonDir, 'worktrees')), false);
  t = Date.now();
  git(repo.main, 'worktree', 'add', '-q', '-b', 'again', `${repo.feature}-again`);
  const addition = await waitForCall('the first git worktree add', t);
  // The add's last events settle first, so the next call is the removal's own.
  while (Date.now() - seen.at(-1)! < 300) await new Promise((r) => setTimeout(r, 50));
  t = Date.now();
  git(repo.main, 'worktree', 'remove', '--force', `${repo.feature}-again`);
  const again = await waitForCall('a removal in the recreated worktrees folder', t);
  console.log(`# worktree changes seen after ${removal} ms (remove), ${addition} ms (add), ${again} ms (remove)`);
});
