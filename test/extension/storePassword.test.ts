import assert from 'node:assert/strict';
import { test } from 'node:test';
import { passwordFor, savedPassword, serverOf } from '../../src/extension/config/storePassword.js';

test('R-SEC-4: a saved store password goes only to the server it was saved for', () => {
  const saved = savedPassword('redis://team-cache.internal:6380/2', 's3cret');
  assert.ok(!saved.includes('6380/2'), 'kept with the server, not the database');
  assert.deepEqual(
    passwordFor('redis://team-cache.internal:6380/0', saved),
    { password: 's3cret' },
    'another database on the same server is the same server',
  );
  assert.deepEqual(passwordFor('redis://TEAM-CACHE.internal:6380', saved), { password: 's3cret' });
  for (const elsewhere of [
    'redis://attacker.example:6380/0',
    'redis://team-cache.internal:6379/0',
    'rediss://team-cache.internal:6380/0',
  ]) {
    const got = passwordFor(elsewhere, saved);
    assert.equal(got.password, undefined, `${elsewhere} got the password`);
    assert.match(got.refused ?? '', /is for redis:\/\/team-cache\.internal:6380, not /);
    assert.ok(!got.refused!.includes('s3cret'));
  }
  assert.deepEqual(passwordFor('', saved), {}, 'no Redis store: nothing to send');
  assert.deepEqual(passwordFor('redis://h:1/0', undefined), {});
});

test('R-SEC-4: a password saved before passwords were tied to a server is not sent anywhere; saving needs a store URL', () => {
  const legacy = passwordFor('redis://h:1/0', 'plain-old-password');
  assert.equal(legacy.password, undefined);
  assert.match(legacy.refused ?? '', /Set Store Password/);
  assert.throws(() => savedPassword('', 'x'), /Set sessionCoordinator\.store\.url/);
  assert.equal(serverOf('redis://[::1]:7000/1'), 'redis://[::1]:7000');
  assert.equal(serverOf('not a url'), undefined);
});
