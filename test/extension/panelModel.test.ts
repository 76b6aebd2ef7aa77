import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { Coordinator } from '../../src/core/coordinator.js';
import { silentLogger } from '../../src/core/logging/logger.js';
import { FileStore } from '../../src/core/store/file/fileStore.js';
import { buildPanelState } from '../../src/extension/views/panelModel.js';
import { tempDir } from '../support/workspace.js';

// The panel model is plain code over one snapshot: tested here under Node with a real
// coordinator; the webview that draws it is tested in a real VS Code (test/vscode).
const ws = tempDir();
after(() => ws.remove());

test("R-AGT-2, R-AGT-4: the panel shows each session's agent, automatic claims apart from explicit ones, and the blocked edits", async () => {
  const c = new Coordinator({ logger: silentLogger, allowedRoots: [ws.path] });
  try {
    await c.start();
    const agent = { kind: 'claude-code', sessionId: '5283ce7e-aaaa-bbbb' };
    const session = await c.openSession({ transport: 'relay', client: { name: 'claude-code', version: '2.1.328' }, agent });
    await c.store.acquireClaim('src', c.actorFor(session), 60_000);
    const allowed = await c.guard.decide({
      event: 'edit',
      agent: { kind: 'gemini', sessionId: 'pid-42' },
      client: 'gemini',
      paths: [path.join(ws.path, 'lib', 'x.ts')],
    });
    assert.equal(allowed.decision, 'allow');
    const denied = await c.guard.decide({
      event: 'edit',
      agent: { kind: 'gemini', sessionId: 'pid-42' },
      client: 'gemini',
      paths: [path.join(ws.path, 'src', 'a.ts')],
    });
    assert.equal(denied.decision, 'deny');
    const snapshot = await c.snapshot();
    const state = buildPanelState({
      snapshot,
      claims: await c.store.listClaims(),
      series: [],
      selfParticipantId: c.store.participantId,
      url: undefined,
      restrictedReason: undefined,
    });
    assert.equal(state.sessions.find((s) => s.id === session.id)?.agent, 'claude-code session 5283ce7e…');
    assert.deepEqual(state.claims.map((x) => [x.resource, x.holderAgent, x.automatic]).sort(), [
      ['lib/x.ts', 'gemini session pid-42', true],
      ['src', 'claude-code session 5283ce7e…', false],
    ]);
    assert.equal(state.guard.blocked, 1);
    assert.equal(state.guard.recent[0]?.agent, 'gemini session pid-42');
    assert.equal(state.guard.recent[0]?.resource, 'src/a.ts');
    assert.match(state.guard.recent[0]!.holder, /^claude-code session 5283ce7e…, session .* \(claude-code\)$/);
  } finally {
    await c.dispose();
  }
});

test('R-SEC-6: a namespace a repository broke shows in the panel as a problem that names it; the others are listed as usual', async () => {
  const dir = tempDir();
  after(() => dir.remove());
  const c = new Coordinator({
    logger: silentLogger,
    allowedRoots: [dir.path],
    openStore: (projectRoot, metrics) =>
      FileStore.open({ projectRoot, participant: { kind: 'headless', label: 't' }, metrics, logger: silentLogger }),
  });
  try {
    await c.start();
    const session = await c.openSession({ transport: 'none' });
    await c.store.set('fine', 'k', 1, c.actorFor(session));
    mkdirSync(path.join(dir.path, '.session-coordinator', 'ns', 'planted', 'CURRENT'), { recursive: true });
    const snapshot = await c.snapshot();
    const state = buildPanelState({
      snapshot,
      claims: [],
      series: [],
      selfParticipantId: c.store.participantId,
      url: undefined,
      restrictedReason: undefined,
    });
    const problem = state.problems.find((p) => p.message.startsWith('Namespace planted:'));
    assert.ok(problem, JSON.stringify(state.problems));
    assert.equal(problem.severity, 'warning');
    assert.ok(snapshot.store.namespaces.some((n) => n.name === 'fine' && n.keys === 1 && !n.unreadable));
  } finally {
    await c.dispose();
  }
});
