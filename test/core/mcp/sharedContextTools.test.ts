import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { whoami } from '../../support/mcpClients.js';
import {
  call,
  callOk,
  callRefused,
  killHard,
  resourceUpdates,
  sharedWorkspace,
  sleep,
  textOf,
  type ClaimView,
  type SharedWorkspace,
} from '../../support/sharedContext.js';

/**
 * The shared-context and claim tools over MCP, as agents use them: real
 * `serve --http` processes on ONE workspace (several windows / headless
 * agents on one project), real SDK clients, real files.
 */

let w: SharedWorkspace;

before(async () => {
  w = await sharedWorkspace(2);
});
after(async () => {
  await w?.close();
});

interface Got {
  namespace: string;
  key: string;
  value?: unknown;
  version: number;
  updatedAt?: number;
  updatedBy?: { sessionId: string; clientName: string; participantId: string };
}
interface Change {
  namespace: string;
  seq: number;
  key: string;
  op: 'set' | 'delete';
  value?: unknown;
  version: number;
  previousVersion: number;
  previousValue?: unknown;
  at: number;
  by: { sessionId: string; clientName: string; participantId: string };
}

const CONTEXT_TOOLS = ['context_get', 'context_set', 'context_increment', 'context_delete', 'context_list', 'context_history'];
const CLAIM_TOOLS = ['claim_acquire', 'claim_renew', 'claim_release', 'claim_list'];

test('R-MCP-3: every tool in tools/list has an inputSchema and an outputSchema (object schemas)', async () => {
  const a = await w.connect(0, 'schema-reader');
  const { tools } = await a.client.listTools();
  const names = tools.map((t) => t.name);
  for (const expected of [...CONTEXT_TOOLS, ...CLAIM_TOOLS, 'whoami'])
    assert.ok(names.includes(expected), `tools/list lacks ${expected}: ${names.join(', ')}`);
  for (const tool of tools) {
    assert.equal(tool.inputSchema?.type, 'object', `${tool.name} has no object inputSchema`);
    assert.equal(tool.outputSchema?.type, 'object', `${tool.name} has no object outputSchema`);
    assert.ok(tool.description && tool.description.length > 20, `${tool.name} has no description an agent can act on`);
  }
  const set = tools.find((t) => t.name === 'context_set')!;
  assert.deepEqual(
    [...((set.inputSchema.required as string[] | undefined) ?? [])].sort(),
    ['key', 'namespace', 'value'],
    'context_set requires namespace, key and value; expectedVersion is optional',
  );
  assert.ok(set.inputSchema.properties && 'expectedVersion' in set.inputSchema.properties);
  const acquire = tools.find((t) => t.name === 'claim_acquire')!;
  assert.ok(
    acquire.outputSchema?.properties && 'fencingToken' in acquire.outputSchema.properties,
    'claim_acquire declares the fencing token it returns',
  );
  const me = tools.find((t) => t.name === 'whoami')!;
  assert.ok(me.outputSchema?.properties && 'participants' in me.outputSchema.properties, 'whoami declares participants');
});

test('R-MCP-3, R-CTX-5: context_set/get/list/delete/history round trip across two processes, with structuredContent', async () => {
  const a = await w.connect(0, 'writer-a');
  const b = await w.connect(1, 'writer-b');
  const meA = await whoami(a.client);
  const meB = await whoami(b.client);
  const ns = 'roundtrip';

  const missing = await callOk<Got>(a.client, 'context_get', { namespace: ns, key: 'plan' });
  assert.deepEqual(missing, { namespace: ns, key: 'plan', version: 0 }, 'a missing key is at version 0 with no value');

  const v1 = await callOk<Got>(a.client, 'context_set', { namespace: ns, key: 'plan', value: { step: 1, files: ['a.ts'] } });
  assert.deepEqual(v1, { namespace: ns, key: 'plan', version: 1 });
  // Process 2 reads what process 1 wrote, and writes on top of it with compare-and-set.
  const seenByB = await callOk<Got>(b.client, 'context_get', { namespace: ns, key: 'plan' });
  assert.deepEqual(seenByB.value, { step: 1, files: ['a.ts'] });
  assert.equal(seenByB.version, 1);
  assert.deepEqual(seenByB.updatedBy, {
    sessionId: meA.sessionId,
    clientName: 'writer-a',
    participantId: seenByB.updatedBy!.participantId,
  });
  assert.equal(typeof seenByB.updatedAt, 'number');
  const v2 = await callOk<Got>(b.client, 'context_set', { namespace: ns, key: 'plan', value: { step: 2 }, expectedVersion: 1 });
  assert.equal(v2.version, 2);
  await callOk(b.client, 'context_set', { namespace: ns, key: 'notes/1', value: 'first', expectedVersion: 0 });
  await callOk(a.client, 'context_set', { namespace: ns, key: 'notes/2', value: 'second' });

  const back = await callOk<Got>(a.client, 'context_get', { namespace: ns, key: 'plan' });
  assert.deepEqual(back.value, { step: 2 });
  assert.equal(back.version, 2);
  assert.equal(back.updatedBy?.sessionId, meB.sessionId);
  assert.equal(back.updatedBy?.clientName, 'writer-b');
  assert.notEqual(back.updatedBy?.participantId, seenByB.updatedBy?.participantId, 'the two serve processes are two participants');

  const all = await callOk<{ namespace: string; entries: Array<Got & { key: string }> }>(a.client, 'context_list', { namespace: ns });
  assert.deepEqual(
    all.entries.map((e) => [e.key, e.value, e.version]),
    [
      ['notes/1', 'first', 1],
      ['notes/2', 'second', 1],
      ['plan', { step: 2 }, 2],
    ],
  );
  const notes = await callOk<{ entries: Array<{ key: string }> }>(b.client, 'context_list', { namespace: ns, prefix: 'notes/' });
  assert.deepEqual(
    notes.entries.map((e) => e.key),
    ['notes/1', 'notes/2'],
  );

  const deleted = await callOk<{ deleted: boolean; version: number }>(b.client, 'context_delete', {
    namespace: ns,
    key: 'plan',
    expectedVersion: 2,
  });
  assert.deepEqual(deleted, { namespace: ns, key: 'plan', deleted: true, version: 3 });
  assert.deepEqual(
    await callOk<Got>(a.client, 'context_get', { namespace: ns, key: 'plan' }),
    { namespace: ns, key: 'plan', version: 0 },
    'a deleted key reads as absent',
  );
  const again = await callOk<{ deleted: boolean }>(a.client, 'context_delete', { namespace: ns, key: 'plan' });
  assert.equal(again.deleted, false, 'deleting an absent key deletes nothing');
  // Deleted keys are at version 0 for compare-and-set: re-creating with expectedVersion 0 works.
  const recreated = await callOk<Got>(a.client, 'context_set', { namespace: ns, key: 'plan', value: 'again', expectedVersion: 0 });
  assert.ok(recreated.version > 3, `versions never go back after a delete (got ${recreated.version})`);
  assert.equal((await callOk<{ entries: unknown[] }>(b.client, 'context_list', { namespace: ns })).entries.length, 3);

  const page1 = await callOk<{ records: Change[]; nextCursor: string }>(b.client, 'context_history', { namespace: ns, limit: 3 });
  assert.equal(page1.records.length, 3);
  const page2 = await callOk<{ records: Change[]; nextCursor: string }>(b.client, 'context_history', {
    namespace: ns,
    cursor: page1.nextCursor,
  });
  const records = [...page1.records, ...page2.records];
  assert.deepEqual(
    records.map((r) => [r.key, r.op, r.version, r.previousVersion, r.by.clientName]),
    [
      ['plan', 'set', 1, 0, 'writer-a'],
      ['plan', 'set', 2, 1, 'writer-b'],
      ['notes/1', 'set', 1, 0, 'writer-b'],
      ['notes/2', 'set', 1, 0, 'writer-a'],
      ['plan', 'delete', 3, 2, 'writer-b'],
      ['plan', 'set', 4, 3, 'writer-a'],
    ],
    'history is the full log, in order, across both processes and both pages',
  );
  assert.deepEqual(records[1]!.previousValue, { step: 1, files: ['a.ts'] }, 'a set records the previous value');
  assert.deepEqual(records[4]!.previousValue, { step: 2 }, 'a delete records the value it removed');
  assert.equal(records[4]!.by.sessionId, meB.sessionId);
  assert.deepEqual(
    records.map((r) => r.seq),
    [...records.map((r) => r.seq)].sort((x, y) => x - y),
  );
  const page3 = await callOk<{ records: Change[] }>(a.client, 'context_history', { namespace: ns, cursor: page2.nextCursor });
  assert.deepEqual(page3.records, [], 'the cursor continues after the last record');
  const everywhere = await callOk<{ records: Change[] }>(a.client, 'context_history', {});
  assert.ok(
    everywhere.records.some((r) => r.namespace === ns),
    'history without a namespace covers every namespace',
  );
});

test('R-MCP-3, R-CTX-3: context_set with a stale expectedVersion is refused with a conflict naming the current version, and writes nothing', async () => {
  const a = await w.connect(0, 'cas-a');
  const b = await w.connect(1, 'cas-b');
  const ns = 'cas';
  for (let i = 1; i <= 7; i++) await callOk(i % 2 ? a.client : b.client, 'context_set', { namespace: ns, key: 'counter', value: i });
  const stale = await callRefused(b.client, 'context_set', { namespace: ns, key: 'counter', value: 'lost update', expectedVersion: 3 });
  assert.match(stale, /conflict/i);
  assert.match(stale, /\b7\b/, `the refusal names the current version 7: ${stale}`);
  const createOnly = await callRefused(a.client, 'context_set', {
    namespace: ns,
    key: 'counter',
    value: 'lost update',
    expectedVersion: 0,
  });
  assert.match(createOnly, /conflict/i, 'expectedVersion 0 means "only if absent"');
  assert.match(createOnly, /\b7\b/);
  const delStale = await callRefused(a.client, 'context_delete', { namespace: ns, key: 'counter', expectedVersion: 6 });
  assert.match(delStale, /conflict/i);
  const now = await callOk<Got>(a.client, 'context_get', { namespace: ns, key: 'counter' });
  assert.equal(now.version, 7);
  assert.equal(now.value, 7, 'no refused write changed the value');
  const fresh = await callOk<Got>(b.client, 'context_set', { namespace: ns, key: 'counter', value: 8, expectedVersion: 7 });
  assert.equal(fresh.version, 8, 'with the current version the write applies');
});

test('R-MCP-3, R-MCP-4: bad arguments are refused with actionable isError text, nothing is created, and the session keeps working', async () => {
  const a = await w.connect(0, 'careless-agent');
  const traversal = await callRefused(a.client, 'context_set', { namespace: '../x', key: 'k', value: 1 });
  assert.match(traversal, /namespace/i);
  assert.ok(traversal.includes('../x'), `names the bad namespace: ${traversal}`);
  assert.match(traversal, /letters, digits/i, `says what a valid namespace looks like: ${traversal}`);
  assert.equal(existsSync(path.join(w.path, 'x')), false);
  assert.equal(existsSync(path.join(w.path, '.session-coordinator', 'x')), false, 'no folder escaped the ns/ directory');
  for (const bad of ['../x', 'a/b', '.hidden', '_claims', '']) {
    const text = await callRefused(a.client, 'context_get', { namespace: bad, key: 'k' });
    assert.match(text, /namespace/i, `namespace ${JSON.stringify(bad)}: ${text}`);
  }
  assert.equal(readdirSync(path.join(w.path, '.session-coordinator', 'ns')).includes('a'), false);
  // Agents cannot reach the claims shard through the context tools.
  const claimsTamper = await callRefused(a.client, 'context_set', {
    namespace: '_claims',
    key: 'src/app.ts',
    value: { fencingToken: 999 },
  });
  assert.match(claimsTamper, /namespace/i);

  const noKey = await callRefused(a.client, 'context_set', { namespace: 'ok', value: 1 });
  assert.match(noKey, /key/i, `says the key is missing: ${noKey}`);
  const badVersion = await callRefused(a.client, 'context_set', { namespace: 'ok', key: 'k', value: 1, expectedVersion: -1 });
  assert.match(badVersion, /expectedVersion/, badVersion);
  const noValue = await callRefused(a.client, 'context_set', { namespace: 'ok', key: 'k' });
  assert.match(noValue, /value/i, `says a value is required: ${noValue}`);
  const badCursor = await callRefused(a.client, 'context_history', { cursor: 'not-a-cursor' });
  assert.match(badCursor, /cursor/i);
  const outside = await callRefused(a.client, 'claim_acquire', { resource: '../../etc/passwd' });
  assert.match(outside, /outside the project root/, outside);
  const noTask = await callRefused(a.client, 'claim_acquire', { resource: 'task:' });
  assert.match(noTask, /task:<name>/, noTask);
  const noToken = await callRefused(a.client, 'claim_release', { resource: 'src/x.ts' });
  assert.match(noToken, /fencingToken/, noToken);

  assert.equal((await whoami(a.client)).state, 'active', 'the session survived every bad call');
  assert.deepEqual(
    await callOk<Got>(a.client, 'context_get', { namespace: 'ok', key: 'k' }),
    { namespace: 'ok', key: 'k', version: 0 },
    'no refused write landed',
  );
});

test('R-CTX-3: 2 serve processes x 2 SDK clients x 25 get->set(expectedVersion) increments with retry on conflict end at exactly 100', async () => {
  const agents = await Promise.all([w.connect(0, 'inc-0a'), w.connect(0, 'inc-0b'), w.connect(1, 'inc-1a'), w.connect(1, 'inc-1b')]);
  const ns = 'increments';
  let conflicts = 0;
  const started = Date.now();
  await Promise.all(
    agents.map(async ({ client }) => {
      for (let i = 0; i < 25; i++) {
        for (let attempt = 0; ; attempt++) {
          assert.ok(attempt < 200, 'an increment kept conflicting for 200 attempts');
          const cur = await callOk<Got>(client, 'context_get', { namespace: ns, key: 'n' });
          const result = await call(client, 'context_set', {
            namespace: ns,
            key: 'n',
            value: ((cur.value as number | undefined) ?? 0) + 1,
            expectedVersion: cur.version,
          });
          if (!result.isError) break;
          assert.match(textOf(result), /conflict/i, `only conflicts may refuse an increment: ${textOf(result)}`);
          conflicts++;
          await sleep(Math.random() * 5 * Math.min(attempt + 1, 8));
        }
      }
    }),
  );
  const final = await callOk<Got>(agents[0]!.client, 'context_get', { namespace: ns, key: 'n' });
  console.log(`# R-CTX-3 over MCP: 100 increments in ${Date.now() - started} ms, ${conflicts} conflicts retried`);
  assert.equal(final.value, 100, 'no lost update');
  assert.equal(final.version, 100, 'exactly one version per successful increment');
  const fromOther = await callOk<Got>(agents[3]!.client, 'context_get', { namespace: ns, key: 'n' });
  assert.equal(fromOther.value, 100, 'the other process sees the same final value');
});

test('R-CTX-3 (issue 11): 2 serve processes x 2 SDK clients x 25 context_increment calls end at exactly 100 with no conflict; a value that is not a counter is refused and kept', async () => {
  const agents = await Promise.all([w.connect(0, 'cnt-0a'), w.connect(0, 'cnt-0b'), w.connect(1, 'cnt-1a'), w.connect(1, 'cnt-1b')]);
  const ns = 'counters';
  const seen: number[] = [];
  await Promise.all(
    agents.map(async ({ client }) => {
      for (let i = 0; i < 25; i++) {
        const r = await callOk<{ value: number; version: number }>(client, 'context_increment', { namespace: ns, key: 'n' });
        seen.push(r.value);
      }
    }),
  );
  assert.deepEqual(
    seen.sort((a, b) => a - b),
    Array.from({ length: 100 }, (_, i) => i + 1),
    'each call saw its own new value: no increment lost or applied twice',
  );
  const final = await callOk<Got>(agents[3]!.client, 'context_get', { namespace: ns, key: 'n' });
  assert.equal(final.value, 100);
  assert.equal(final.version, 100, 'one version per increment');
  const down = await callOk<{ value: number }>(agents[0]!.client, 'context_increment', { namespace: ns, key: 'n', by: -40 });
  assert.equal(down.value, 60, 'a negative step subtracts');
  await callOk(agents[0]!.client, 'context_set', { namespace: ns, key: 'name', value: 'plan' });
  const refused = await call(agents[1]!.client, 'context_increment', { namespace: ns, key: 'name' });
  assert.equal(refused.isError, true);
  assert.match(textOf(refused), /not a whole number.*set it instead/, textOf(refused));
  assert.equal((await callOk<Got>(agents[1]!.client, 'context_get', { namespace: ns, key: 'name' })).value, 'plan', 'nothing was written');
  const fractional = await call(agents[1]!.client, 'context_increment', { namespace: ns, key: 'n', by: 0.5 });
  assert.equal(fractional.isError, true, 'a fractional step is refused by the schema');
});

test('R-CLM-1: overlapping claims are refused with the holder session, client name and expiry; disjoint ones are granted', async () => {
  const a = await w.connect(0, 'Agent Alpha');
  const b = await w.connect(1, 'Agent Beta');
  const meA = await whoami(a.client);
  const meB = await whoami(b.client);
  const held = await callOk<ClaimView>(a.client, 'claim_acquire', { resource: 'src/app.ts', ttlSeconds: 600 });
  assert.equal(held.resource, 'src/app.ts');
  assert.equal(held.holder.sessionId, meA.sessionId);
  assert.equal(held.holder.clientName, 'Agent Alpha');
  assert.ok(held.fencingToken >= 1);
  const expiresIn = Date.parse(held.expiresAt) - Date.now();
  assert.ok(expiresIn > 590_000 && expiresIn <= 600_000, `expiry follows ttlSeconds (${expiresIn} ms)`);

  for (const resource of ['src', './src/app.ts', 'src/../src/app.ts', '.', 'src/']) {
    const refused = await callRefused(b.client, 'claim_acquire', { resource });
    assert.ok(refused.includes(meA.sessionId), `${resource}: names the holder's session: ${refused}`);
    assert.ok(refused.includes('Agent Alpha'), `${resource}: names the holder's client: ${refused}`);
    assert.ok(refused.includes(held.expiresAt), `${resource}: names the expiry ${held.expiresAt}: ${refused}`);
    assert.ok(refused.includes('src/app.ts'), `${resource}: names the held resource: ${refused}`);
  }
  // Path overlap is by segment, not by string prefix.
  const sibling = await callOk<ClaimView>(b.client, 'claim_acquire', { resource: 'src/app.tsx' });
  assert.equal(sibling.holder.sessionId, meB.sessionId);

  await callOk(a.client, 'claim_acquire', { resource: 'task:deploy' });
  const sameTask = await callRefused(b.client, 'claim_acquire', { resource: 'task:deploy' });
  assert.ok(sameTask.includes(meA.sessionId) && sameTask.includes('Agent Alpha'), sameTask);
  await callOk(b.client, 'claim_acquire', { resource: 'task:build' });
  const taskVsPath = await callOk<ClaimView>(b.client, 'claim_acquire', { resource: 'task' });
  assert.equal(taskVsPath.resource, 'task', 'a file named "task" does not overlap task claims');

  // B takes src/app.ts once A lets go; A then works next to it.
  await callOk(a.client, 'claim_release', { resource: 'src/app.ts', fencingToken: held.fencingToken });
  const bHolds = await callOk<ClaimView>(b.client, 'claim_acquire', { resource: 'src/app.ts' });
  assert.ok(bHolds.fencingToken > held.fencingToken);
  const other = await callOk<ClaimView>(a.client, 'claim_acquire', { resource: 'src/other.ts' });
  assert.equal(other.holder.sessionId, meA.sessionId);
  const folder = await callRefused(a.client, 'claim_acquire', { resource: 'src' });
  assert.ok(
    folder.includes(meB.sessionId) && folder.includes('Agent Beta'),
    `a folder claim is refused while B holds a file in it: ${folder}`,
  );

  const { claims } = await callOk<{ claims: ClaimView[] }>(a.client, 'claim_list', {});
  const mine = claims.filter((c) => c.holder.sessionId === meA.sessionId || c.holder.sessionId === meB.sessionId);
  assert.deepEqual(
    mine.map((c) => [c.resource, c.holder.clientName]).sort(),
    [
      ['src/app.ts', 'Agent Beta'],
      ['src/app.tsx', 'Agent Beta'],
      ['src/other.ts', 'Agent Alpha'],
      ['task', 'Agent Beta'],
      ['task:build', 'Agent Beta'],
      ['task:deploy', 'Agent Alpha'],
    ],
    'claim_list (from either process) shows exactly the grants',
  );
  await a.transport.terminateSession();
  await b.transport.terminateSession();
});

const RACE_ROUNDS = 1000;

test(`R-CLM-1, R-CLM-2: two agents on two serve processes race for one claim ${RACE_ROUNDS} times: one winner per round, fencing tokens strictly increasing`, async () => {
  const a = await w.connect(0, 'racer-a');
  const b = await w.connect(1, 'racer-b');
  const ids = [(await whoami(a.client)).sessionId, (await whoami(b.client)).sessionId];
  const racers = [a, b];
  const tokens: number[] = [];
  const wins = [0, 0];
  const started = Date.now();
  for (let round = 0; round < RACE_ROUNDS; round++) {
    const results = await Promise.all(racers.map((r) => call(r.client, 'claim_acquire', { resource: 'task:race', ttlSeconds: 60 })));
    const winners = results.map((r, i) => (r.isError ? -1 : i)).filter((i) => i >= 0);
    assert.equal(winners.length, 1, `round ${round}: exactly one winner, got ${winners.length}: ${results.map(textOf).join(' | ')}`);
    const winner = winners[0]!;
    const loser = 1 - winner;
    const refusal = textOf(results[loser]!);
    assert.ok(
      refusal.startsWith('ClaimConflict') && refusal.includes(ids[winner]!),
      `round ${round}: the loser is told who won: ${refusal}`,
    );
    const grant = results[winner]!.structuredContent as unknown as ClaimView;
    assert.equal(grant.holder.sessionId, ids[winner]);
    if (tokens.length) assert.ok(grant.fencingToken > tokens.at(-1)!, `round ${round}: token ${grant.fencingToken} after ${tokens.at(-1)}`);
    tokens.push(grant.fencingToken);
    wins[winner]!++;
    await callOk(racers[winner]!.client, 'claim_release', { resource: 'task:race', fencingToken: grant.fencingToken });
  }
  const ms = Date.now() - started;
  console.log(
    `# R-CLM race: ${RACE_ROUNDS} rounds in ${ms} ms (${(ms / RACE_ROUNDS).toFixed(1)} ms/round); wins a=${wins[0]} b=${wins[1]}; tokens ${tokens[0]}..${tokens.at(-1)}`,
  );
  assert.equal(new Set(tokens).size, RACE_ROUNDS);
  assert.ok(wins[0]! > 0 && wins[1]! > 0, 'both processes won some rounds: the race was real');
});

test('R-CLM-2: renew and release with an older fencing token are refused; the current token is accepted', async () => {
  const a = await w.connect(0, 'fence-a');
  const b = await w.connect(1, 'fence-b');
  const first = await callOk<ClaimView>(a.client, 'claim_acquire', { resource: 'docs/guide.md', ttlSeconds: 30 });
  await callOk(a.client, 'claim_release', { resource: 'docs/guide.md', fencingToken: first.fencingToken });
  const second = await callOk<ClaimView>(b.client, 'claim_acquire', { resource: 'docs/guide.md', ttlSeconds: 30 });
  assert.ok(second.fencingToken > first.fencingToken, 'a new grant gets a newer token');

  const staleRenew = await callRefused(a.client, 'claim_renew', { resource: 'docs/guide.md', fencingToken: first.fencingToken });
  assert.match(staleRenew, /StaleFencingToken|ClaimNotHeld/, staleRenew);
  const staleRelease = await callRefused(a.client, 'claim_release', { resource: 'docs/guide.md', fencingToken: first.fencingToken });
  assert.match(staleRelease, /StaleFencingToken|ClaimNotHeld/, staleRelease);
  const staleFromHolder = await callRefused(b.client, 'claim_release', { resource: 'docs/guide.md', fencingToken: first.fencingToken });
  assert.match(staleFromHolder, /StaleFencingToken|ClaimNotHeld/, 'an older token is refused whoever presents it');
  const future = await callRefused(b.client, 'claim_renew', { resource: 'docs/guide.md', fencingToken: second.fencingToken + 1 });
  assert.match(future, /ClaimNotHeld/, `a token never granted is refused: ${future}`);

  const still = (await callOk<{ claims: ClaimView[] }>(a.client, 'claim_list', { prefix: 'docs/' })).claims;
  assert.deepEqual(
    still.map((c) => [c.resource, c.fencingToken, c.holder.clientName]),
    [['docs/guide.md', second.fencingToken, 'fence-b']],
    'the refused calls changed nothing',
  );

  const renewed = await callOk<ClaimView>(b.client, 'claim_renew', {
    resource: 'docs/guide.md',
    fencingToken: second.fencingToken,
    ttlSeconds: 120,
  });
  assert.equal(renewed.fencingToken, second.fencingToken, 'renewing keeps the token');
  assert.ok(Date.parse(renewed.expiresAt) > Date.parse(second.expiresAt), 'renewing extends the expiry');
  const released = await callOk<{ resource: string; released: boolean }>(b.client, 'claim_release', {
    resource: './docs/guide.md',
    fencingToken: second.fencingToken,
  });
  assert.deepEqual(released, { resource: 'docs/guide.md', released: true });
  const twice = await callRefused(b.client, 'claim_release', { resource: 'docs/guide.md', fencingToken: second.fencingToken });
  assert.match(twice, /ClaimNotHeld/, twice);
});

test('R-CLM-1, R-CLM-2: a session cannot renew or release a claim another session holds, even with the token claim_list shows', async () => {
  const owner = await w.connect(0, 'owner');
  const intruder = await w.connect(1, 'intruder');
  const held = await callOk<ClaimView>(owner.client, 'claim_acquire', { resource: 'src/owned.ts', ttlSeconds: 60 });
  const seen = (await callOk<{ claims: ClaimView[] }>(intruder.client, 'claim_list', { prefix: 'src/owned.ts' })).claims[0]!;
  assert.equal(seen.fencingToken, held.fencingToken, 'claim_list shows the current token to everyone');
  const renew = await call(intruder.client, 'claim_renew', {
    resource: 'src/owned.ts',
    fencingToken: seen.fencingToken,
    ttlSeconds: 86_400,
  });
  const afterRenew = (await callOk<{ claims: ClaimView[] }>(owner.client, 'claim_list', { prefix: 'src/owned.ts' })).claims;
  const release = await call(intruder.client, 'claim_release', { resource: 'src/owned.ts', fencingToken: seen.fencingToken });
  const afterRelease = (await callOk<{ claims: ClaimView[] }>(owner.client, 'claim_list', { prefix: 'src/owned.ts' })).claims;
  // One assertion over everything observed, so a failure shows the whole picture.
  assert.deepEqual(
    {
      renewRefused: renew.isError === true,
      expiryUnchanged: afterRenew[0]?.expiresAt === held.expiresAt,
      releaseRefused: release.isError === true,
      ownerStillHolds: afterRelease.length === 1 && afterRelease[0]!.holder.clientName === 'owner',
    },
    { renewRefused: true, expiryUnchanged: true, releaseRefused: true, ownerStillHolds: true },
    `the intruder's renew answered ${textOf(renew)}; its release answered ${textOf(release)}`,
  );
  assert.match(textOf(renew), /owner|not hold|ClaimNotHeld/i, "the refusal says the claim is not the caller's");
  await callOk(owner.client, 'claim_release', { resource: 'src/owned.ts', fencingToken: held.fencingToken }).catch(() => undefined);
});

test('R-CLM-3: a claim is released when its holder session closes (DELETE), without waiting for the TTL', async () => {
  const a = await w.connect(0, 'closing-agent');
  const b = await w.connect(1, 'waiting-agent');
  const meA = await whoami(a.client);
  await callOk(a.client, 'claim_acquire', { resource: 'src/closing.ts', ttlSeconds: 3600 });
  await callOk(a.client, 'claim_acquire', { resource: 'task:closing', ttlSeconds: 3600 });
  const refused = await callRefused(b.client, 'claim_acquire', { resource: 'src/closing.ts' });
  assert.ok(refused.includes(meA.sessionId));
  const closedAt = Date.now();
  await a.transport.terminateSession();
  let got: ToolResultLike | undefined;
  while (Date.now() - closedAt < 3000) {
    const r = await call(b.client, 'claim_acquire', { resource: 'src/closing.ts' });
    if (!r.isError) {
      got = r;
      break;
    }
    await sleep(50);
  }
  const ms = Date.now() - closedAt;
  console.log(`# R-CLM-3: claim free ${ms} ms after DELETE of the holder session (TTL was 3600 s)`);
  assert.ok(got, `the claim was still held ${ms} ms after its session closed`);
  // The session's claims are released one after another: the last may land a moment after the first.
  const leftOf = async (): Promise<ClaimView[]> =>
    (await callOk<{ claims: ClaimView[] }>(b.client, 'claim_list', {})).claims.filter((c) => c.holder.sessionId === meA.sessionId);
  let left = await leftOf();
  while (left.length > 0 && Date.now() - closedAt < 3000) {
    await sleep(50);
    left = await leftOf();
  }
  assert.deepEqual(left, [], 'every claim of the closed session is gone, the task claim included');
});
type ToolResultLike = Awaited<ReturnType<typeof call>>;

test('R-MCP-3: a session subscribed to context://notes in process 1 is notified when process 2 writes that namespace; likewise coordinator://claims', async () => {
  const x = await w.connect(0, 'subscriber-x');
  const y = await w.connect(1, 'writer-y');
  const updates = resourceUpdates(x.client);
  await x.client.subscribeResource({ uri: 'context://notes' });
  await x.client.subscribeResource({ uri: 'coordinator://claims' });

  // First write ever to "notes": the namespace is new to process 1.
  let since = Date.now();
  await callOk(y.client, 'context_set', { namespace: 'notes', key: 'hello', value: 'from y' });
  const firstMs = await updates.next('context://notes', since, 2000);
  // A second write to a namespace process 1 already knows.
  await sleep(100);
  since = Date.now();
  await callOk(y.client, 'context_set', { namespace: 'notes', key: 'hello', value: 'again' });
  const secondMs = await updates.next('context://notes', since, 2000);
  const read = await x.client.readResource({ uri: 'context://notes' });
  const text = (read.contents[0] as { text: string }).text;
  assert.deepEqual(
    (JSON.parse(text) as Array<{ key: string; value: unknown }>).map((e) => [e.key, e.value]),
    [['hello', 'again']],
    'the resource shows what process 2 wrote',
  );

  since = Date.now();
  const claim = await callOk<ClaimView>(y.client, 'claim_acquire', { resource: 'task:notify', ttlSeconds: 60 });
  const claimMs = await updates.next('coordinator://claims', since, 2000);
  const claims = JSON.parse(
    ((await x.client.readResource({ uri: 'coordinator://claims' })).contents[0] as { text: string }).text,
  ) as Array<{ resource: string }>;
  assert.ok(
    claims.some((c) => c.resource === 'task:notify'),
    'the claims resource shows the new claim',
  );
  console.log(`# R-MCP-3 subscriptions: new namespace ${firstMs} ms, known namespace ${secondMs} ms, claims ${claimMs} ms`);

  // Only what was subscribed: a write to another namespace is not announced as anything.
  await callOk(y.client, 'context_set', { namespace: 'unsubscribed-ns', key: 'k', value: 1 });
  await x.client.unsubscribeResource({ uri: 'context://notes' });
  await sleep(200);
  since = Date.now();
  await callOk(y.client, 'context_set', { namespace: 'notes', key: 'hello', value: 'after unsubscribe' });
  await sleep(700);
  const uris = new Set(updates.received.map((r) => r.uri));
  assert.deepEqual([...uris].sort(), ['context://notes', 'coordinator://claims'], 'notified only of subscribed uris');
  assert.equal(updates.received.filter((r) => r.uri === 'context://notes' && r.at >= since).length, 0, 'no notification after unsubscribe');
  await callOk(y.client, 'claim_release', { resource: 'task:notify', fencingToken: claim.fencingToken });
});

interface Participants {
  participants: Array<{
    participantId: string;
    kind: string;
    label: string;
    pid: number;
    host: string;
    sessions: Array<{ id: string; clientName: string; transport: string; state: string }>;
  }>;
}

test('R-MCP-3, R-CTX-7: whoami participants lists both serve processes (headless) with their sessions', async () => {
  const one = await w.connect(0, 'presence-one');
  const two = await w.connect(1, 'presence-two');
  const idOne = (await whoami(one.client)).sessionId;
  const idTwo = (await whoami(two.client)).sessionId;
  const pids = w.servers.map((s) => s.child.pid!);
  const listed = (p: Participants): boolean => {
    const byPid = new Map(p.participants.map((x) => [x.pid, x]));
    return (
      byPid.get(pids[0]!)?.sessions.some((s) => s.id === idOne) === true &&
      byPid.get(pids[1]!)?.sessions.some((s) => s.id === idTwo) === true
    );
  };
  let seen = await callOk<Participants>(one.client, 'whoami', {});
  const deadline = Date.now() + 3000;
  while (!listed(seen) && Date.now() < deadline) {
    await sleep(100);
    seen = await callOk<Participants>(one.client, 'whoami', {});
  }
  assert.equal(seen.participants.length, 2, `two participants: ${JSON.stringify(seen.participants.map((p) => [p.pid, p.kind]))}`);
  assert.deepEqual(seen.participants.map((p) => p.pid).sort(), [...pids].sort(), 'they are the two serve processes');
  for (const p of seen.participants) {
    assert.equal(p.kind, 'headless');
    assert.equal(p.label, 'session-coordinator serve', 'the label says what kind of process it is (the pid is its own field)');
  }
  assert.ok(listed(seen), `each participant lists its own sessions: ${JSON.stringify(seen.participants)}`);
  const entry = seen.participants.find((p) => p.pid === pids[1])!.sessions.find((s) => s.id === idTwo)!;
  assert.deepEqual([entry.clientName, entry.transport, entry.state], ['presence-two', 'http', 'active']);
  assert.equal(new Set(seen.participants.map((p) => p.participantId)).size, 2);
  const fromTwo = await callOk<Participants>(two.client, 'whoami', {});
  assert.deepEqual(
    fromTwo.participants.map((p) => p.participantId).sort(),
    seen.participants.map((p) => p.participantId).sort(),
    'both processes see the same participants',
  );
});

test('R-CLM-3, R-CTX-7: when a participant is killed with SIGKILL, a session in another process acquires its claim within the presence bound', async () => {
  const doomed = await w.addServer();
  const victimIndex = w.servers.indexOf(doomed);
  const victim = await w.connect(victimIndex, 'doomed-agent');
  const survivor = await w.connect(1, 'survivor');
  const victimId = (await whoami(victim.client)).sessionId;
  await callOk(victim.client, 'claim_acquire', { resource: 'src/killed.ts', ttlSeconds: 3600 });
  const refused = await callRefused(survivor.client, 'claim_acquire', { resource: 'src/killed.ts' });
  assert.ok(refused.includes(victimId));
  const presence = path.join(w.path, '.session-coordinator', 'presence');
  const seen = await callOk<Participants>(survivor.client, 'whoami', {});
  assert.ok(
    seen.participants.some((p) => p.pid === doomed.child.pid),
    'the doomed process is a live participant before the kill',
  );

  await killHard(doomed.child);
  const killedAt = Date.now();
  let ms = -1;
  while (Date.now() - killedAt < 10_000) {
    const r = await call(survivor.client, 'claim_acquire', { resource: 'src/killed.ts', ttlSeconds: 60 });
    if (!r.isError) {
      ms = Date.now() - killedAt;
      break;
    }
    assert.match(textOf(r), /ClaimConflict/, textOf(r));
    await sleep(100);
  }
  console.log(`# R-CLM-3 kill -9 -> reacquire: ${ms < 0 ? 'not within 10 s' : `${ms} ms`}`);
  assert.ok(ms >= 0, 'the claim of a killed participant was never reclaimed (10 s)');
  assert.ok(ms < 5000, `reclaimed after ${ms} ms; the presence bound is 3 s`);
  const now = await callOk<Participants>(survivor.client, 'whoami', {});
  assert.equal(
    now.participants.some((p) => p.pid === doomed.child.pid),
    false,
    'the killed process is no longer a participant',
  );
  assert.equal(
    readdirSync(presence).some((f) => f.includes(`-${doomed.child.pid}-`)),
    false,
    'its presence file was swept',
  );
});
