import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { Coordinator } from '../../../src/core/coordinator.js';
import { isCoordinatorError } from '../../../src/core/errors.js';
import { silentLogger } from '../../../src/core/logging/logger.js';
import { Metrics } from '../../../src/core/metrics/metrics.js';
import { RootResolver } from '../../../src/core/roots/rootResolver.js';
import { REPO } from '../../support/processes.js';
import { tempDir } from '../../support/workspace.js';

const base = tempDir();
after(() => base.remove());
const ws = path.join(base.path, 'ws');
const outside = path.join(base.path, 'outside');
mkdirSync(path.join(ws, 'pkg', 'src'), { recursive: true });
mkdirSync(outside);
writeFileSync(path.join(ws, 'file.txt'), 'x');
symlinkSync(outside, path.join(ws, 'escape'));
symlinkSync(path.join(ws, 'pkg'), path.join(ws, 'inner-link'));

const resolver = (roots = [ws]) => new RootResolver(new Metrics(), { timeoutMs: 2000, cacheTtlMs: 60_000 }, roots);

function rejectsWith(code: string, pathPart: string) {
  return (e: unknown) => {
    assert.ok(isCoordinatorError(e), `expected a CoordinatorError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.ok(e.message.includes(pathPart), `message names the path: ${e.message}`);
    return true;
  };
}

test('R-ROOT-1: paths inside the workspace resolve to their real path', async () => {
  const r = resolver();
  assert.equal(await r.resolve(ws), ws);
  assert.equal(await r.resolve(path.join(ws, 'pkg', 'src')), path.join(ws, 'pkg', 'src'));
  assert.equal(await r.resolve('pkg'), path.join(ws, 'pkg'), 'relative paths are taken from the first root');
  assert.equal(await r.resolve(path.join(ws, 'inner-link')), path.join(ws, 'pkg'), 'a symlink that stays inside is fine');
});

test('R-ROOT-1: .., escaping symlinks, missing paths and files are refused with an error naming the path', async () => {
  const r = resolver();
  const dotdot = path.join(ws, '..', 'outside');
  await assert.rejects(r.resolve(dotdot), rejectsWith('RootOutsideWorkspace', dotdot));
  await assert.rejects(r.resolve('../outside'), rejectsWith('RootOutsideWorkspace', '../outside'));
  await assert.rejects(r.resolve(path.join(ws, 'escape')), rejectsWith('RootOutsideWorkspace', path.join(ws, 'escape')));
  await assert.rejects(r.resolve(path.join(ws, 'nope')), rejectsWith('RootNotFound', path.join(ws, 'nope')));
  await assert.rejects(r.resolve(path.join(ws, 'file.txt')), rejectsWith('RootNotDirectory', 'file.txt'));
  // A sibling whose name merely starts with the root's name is outside too.
  mkdirSync(`${ws}-sibling`, { recursive: true });
  await assert.rejects(r.resolve(`${ws}-sibling`), rejectsWith('RootOutsideWorkspace', `${ws}-sibling`));
});

test('R-ROOT-1: an explicitly allowed path outside the workspace is accepted', async () => {
  const r = resolver([ws, outside]);
  assert.equal(await r.resolve(path.join(ws, 'escape')), outside);
});

test('R-ROOT-2: results are cached, concurrent loads are shared, and the cache is invalidated when roots change', async () => {
  const metrics = new Metrics();
  const r = new RootResolver(metrics, { timeoutMs: 2000, cacheTtlMs: 60_000 }, [ws]);
  await Promise.all(Array.from({ length: 20 }, () => r.resolve(path.join(ws, 'pkg'))));
  let m = metrics.snapshot();
  assert.equal(m['roots.cacheMisses'], 1);
  assert.equal(m['roots.cacheHits'], 19);
  r.setAllowedRoots([outside]);
  await assert.rejects(r.resolve(path.join(ws, 'pkg')), (e) => isCoordinatorError(e, 'RootOutsideWorkspace'));
  m = metrics.snapshot();
  assert.equal(m['roots.cacheMisses'], 2, 'the changed roots forced a fresh resolution');
});

test('R-ROOT-2: a hung file system times out instead of stalling the event loop', () => {
  // Four reads of a FIFO with no writer occupy all of libuv's file-system threads,
  // exactly as a hung network mount does; realpath then cannot start.
  const script = `
    const { execFileSync } = require('node:child_process');
    const fs = require('node:fs');
    const { RootResolver } = require('./src/core/roots/rootResolver.ts');
    const { Metrics } = require('./src/core/metrics/metrics.ts');
    const fifo = ${JSON.stringify(path.join(base.path, 'hang.fifo'))};
    execFileSync('mkfifo', [fifo]);
    const blocked = Array.from({ length: 4 }, () => fs.promises.open(fifo, 'r'));
    const r = new RootResolver(new Metrics(), { timeoutMs: 150, cacheTtlMs: 1000 }, [${JSON.stringify(ws)}]);
    const started = Date.now();
    let ticks = 0;
    const tick = setInterval(() => ticks++, 10);
    r.resolve(${JSON.stringify(path.join(ws, 'pkg'))}).then(
      () => { console.log('resolved'); process.exit(1); },
      (e) => {
        clearInterval(tick);
        console.log(JSON.stringify({ code: e.code, elapsed: Date.now() - started, ticks, message: e.message }));
        // Opening the write end releases the blocked readers, so the process can exit.
        fs.closeSync(fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
        Promise.all(blocked).then(() => process.exit(0));
      });`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, UV_THREADPOOL_SIZE: '4' },
  });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const out = JSON.parse(r.stdout.trim()) as { code: string; elapsed: number; ticks: number; message: string };
  assert.equal(out.code, 'RootResolutionTimeout');
  assert.match(out.message, /pkg/);
  assert.ok(out.elapsed < 5000, `gave up after ${out.elapsed} ms (timeout 150 ms; the machine may be loaded)`);
  assert.ok(out.ticks >= 3, `the event loop kept running while the file system hung: ${JSON.stringify(out)}`);
});

test('R-ROOT-3: with no valid workspace root the coordinator says so at start, loudly', async () => {
  const errors: string[] = [];
  const logger = { ...silentLogger, error: (m: string | Error) => void errors.push(String(m)) };
  const c = new Coordinator({ logger, allowedRoots: [] });
  after(() => c.dispose());
  const health = await c.start();
  assert.equal(health.status, 'error');
  assert.match(health.status === 'error' ? health.problems[0]! : '', /No workspace folder/);
  assert.equal(errors.length, 1, 'logged as an error, not a warning');
  assert.equal(c.metrics.snapshot()['roots.noWorkspace'], 1);
  assert.equal((await c.snapshot()).health.status, 'error');
  const missing = new Coordinator({ logger: silentLogger, allowedRoots: [path.join(base.path, 'gone')] });
  after(() => missing.dispose());
  const h2 = await missing.start();
  assert.ok(h2.status === 'error' && h2.problems[0]!.includes(path.join(base.path, 'gone')));
  await assert.rejects(missing.openSession({ transport: 'none' }), (e) => isCoordinatorError(e, 'NoWorkspaceRoot'));
  assert.equal((await missing.setAllowedRoots([ws])).status, 'ok', 'a workspace folder added later clears the problem');
});
