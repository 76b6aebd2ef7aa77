import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCoordinatorError } from '../../../src/core/errors.js';
import { checkTransition, type SessionState } from '../../../src/core/sessions/sessionState.js';
import { Session } from '../../../src/core/sessions/session.js';

const newSession = (): Session => new Session('s1', 'h', '/ws', { transport: 'none' }, Date.now());

test('R-SES-2: the only path is initializing -> active -> closing -> closed', () => {
  const s = newSession();
  assert.equal(s.state.kind, 'initializing');
  s.transition({ kind: 'active' });
  s.transition({ kind: 'closing', reason: 'done' });
  s.transition({ kind: 'closed', reason: 'done' });
  assert.deepEqual(s.state, { kind: 'closed', reason: 'done' });
});

test('R-SES-2: failed(reason) is reachable from every live state and is final', () => {
  for (const path of [[], ['active'], ['active', 'closing']] as const) {
    const s = newSession();
    for (const kind of path) s.transition(kind === 'closing' ? { kind, reason: 'x' } : { kind });
    s.transition({ kind: 'failed', reason: 'disk full' });
    assert.deepEqual(s.state, { kind: 'failed', reason: 'disk full' });
    assert.throws(
      () => s.transition({ kind: 'active' }),
      (e) => isCoordinatorError(e, 'IllegalStateTransition'),
    );
  }
});

test('R-SES-2: illegal transitions throw IllegalStateTransition and change nothing', () => {
  const illegal: Array<[SessionState['kind'][], SessionState]> = [
    [[], { kind: 'closed', reason: 'x' }],
    [[], { kind: 'closing', reason: 'x' }],
    [['active'], { kind: 'initializing' }],
    [['active'], { kind: 'closed', reason: 'x' }],
    [['active'], { kind: 'active' }],
  ];
  for (const [path, to] of illegal) {
    const s = newSession();
    for (const kind of path) s.transition({ kind } as SessionState);
    const before = s.state;
    let ended = 0;
    s.onDidEnd(() => ended++);
    assert.throws(
      () => s.transition(to),
      (e: unknown) => isCoordinatorError(e, 'IllegalStateTransition') && /cannot go from/.test((e as Error).message),
    );
    assert.equal(s.state, before, `state unchanged after refused ${before.kind} -> ${to.kind}`);
    assert.equal(ended, 0);
  }
  assert.throws(() => checkTransition('x', { kind: 'closed', reason: 'a' }, { kind: 'failed', reason: 'b' }));
});

test('R-SES-2, R-AGT-1: disconnected is a state of the one machine: from active, back to active, or on to closing; never from initializing', () => {
  const s = newSession();
  assert.throws(
    () => s.transition({ kind: 'disconnected', reason: 'x', since: 0 }),
    (e) => isCoordinatorError(e, 'IllegalStateTransition'),
  );
  s.transition({ kind: 'active' });
  s.transition({ kind: 'disconnected', reason: 'http stream dropped', since: 1 });
  s.transition({ kind: 'active' });
  s.transition({ kind: 'disconnected', reason: 'http stream dropped', since: 2 });
  s.transition({ kind: 'closing', reason: 'not back' });
  s.transition({ kind: 'closed', reason: 'not back' });
  assert.equal(s.state.kind, 'closed');
});
