import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ShardState, type WalRecord } from '../../../src/core/store/file/shardState.js';

const by = { sessionId: 's', clientName: 'c', participantId: 'p' };
const record = (n: string, k: string, pv: number): WalRecord => ({ n, op: 'set', k, v: n, pv, at: 0, by });

test('R-CTX-4: undoing a write that evicted the oldest remembered nonce puts it back in front: the state is exactly what it was, so every process keeps evicting the same nonces', () => {
  const state = new ShardState('ns', 1, 0, 0);
  // Fill the bounded nonce memory: one write per key, so each applies.
  for (let i = 0; state.toSnapshot(1).recentNonces.length < 2048; i++) assert.ok(state.apply(record(`n${i}`, `k${i}`, 0)));
  const before = state.toSnapshot(1);
  const assumed = record('assumed', 'k0', 1);
  const undo = state.undoFor(assumed);
  assert.ok(state.apply(assumed));
  assert.equal(state.hasNonce('n0'), false, 'the write evicted the oldest nonce');
  state.undo(undo);
  assert.deepEqual(state.toSnapshot(1), before);
  // And the next write evicts the same nonce as in a process that never made the assumed write.
  state.apply(record('next', 'k1', 1));
  assert.equal(state.hasNonce('n0'), false);
  assert.equal(state.hasNonce('n1'), true);
});
