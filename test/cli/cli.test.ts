import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { runCliWith, type CliResult } from '../support/cliProcesses.js';
import { busyPort } from '../support/ports.js';
import { cliEnv, REPO } from '../support/processes.js';
import { tempDir } from '../support/workspace.js';

const ws = tempDir();
const temps: Array<{ path: string; remove(): Promise<void> }> = [];
after(async () => {
  await ws.remove();
  await Promise.all(temps.map((t) => t.remove()));
});

function freshHome(): string {
  const t = tempDir('sc-cli-home-');
  temps.push(t);
  return t.path;
}

const USAGE_HEAD = /^Usage: session-coordinator <command> \[options\]$/m;

function assertUsage(text: string, what: string): void {
  assert.match(text, USAGE_HEAD, `${what}: usage printed`);
  for (const command of ['serve', 'status', 'config'])
    assert.match(text, new RegExp(`^ {2}${command} `, 'm'), `${what}: usage lists ${command}`);
  assert.match(text, /Exit codes: 0 success, 1 failure, 2 bad usage, 3 no live participant/, `${what}: usage lists the exit codes`);
}

function assertBadUsage(res: CliResult, what: string, message?: RegExp): void {
  assert.equal(res.timedOut, false, `${what}: exits by itself (it was still running after the deadline)`);
  assert.equal(res.code, 2, `${what}: exit code 2\n${res.stderr}`);
  assert.equal(res.stdout, '', `${what}: nothing on stdout`);
  const [first] = res.stderr.split('\n');
  assert.match(first!, /^session-coordinator: \S/, `${what}: the first stderr line says what is wrong`);
  if (message) assert.match(first!, message, `${what}: message`);
  // A known command's own usage (its synopsis, and where the rest is); an unknown one gets the whole list.
  const command = what.replace(/^session-coordinator /, '').split(' ')[0];
  if (command && ['serve', 'status', 'config', 'setup', 'connect', 'message', 'hook'].includes(command)) {
    assert.match(res.stderr, new RegExp(`\\n\\nUsage: session-coordinator ${command} `), `${what}: its own usage`);
    assert.match(res.stderr, /^Every command: session-coordinator --help$/m, `${what}: where every command is`);
  } else assertUsage(res.stderr, what);
  assert.doesNotMatch(res.stderr, /\n\s+at /, `${what}: no stack trace`);
}

const BAD: Array<[string[], RegExp]> = [
  [['serve', '--bogus'], /--bogus/],
  [['serve', '--port', 'abc'], /--port.*"abc"/],
  [['serve', '--port', '70000'], /--port.*"70000"/],
  [['serve', '--port', '-1'], /--port/],
  [['serve', '--port', '80.5'], /--port.*"80\.5"/],
  [['serve', '--port'], /--port/],
  [['serve', 'extra'], /extra/],
  [['serve', '--log-level', 'loud'], /--log-level/],
  [['serve', '--max-sessions', '0'], /--max-sessions/],
  [['serve', '--max-pending', 'many'], /--max-pending/],
  [['config', 'nosuchclient'], /unknown client "nosuchclient": config takes one of claude-code, cline, cursor, vscode/],
  [['setup', 'nosuchclient'], /unknown client "nosuchclient": setup takes one of claude-code, vscode/],
  [['config'], /claude-code, cline, cursor, vscode/],
  [['status', '--bogus'], /^session-coordinator: unknown option --bogus$/],
  [['frobnicate'], /Unknown command: frobnicate/],
];

test('R-CLI-4: bad flags, arguments and commands print a message and usage on stderr and exit 2, starting nothing', async () => {
  // A few at a time: every one must exit by itself, and a loaded machine must not make that look like a hang.
  const results: Array<{ args: string[]; message: RegExp; res: CliResult; home: string }> = [];
  for (let i = 0; i < BAD.length; i += 4) {
    results.push(
      ...(await Promise.all(
        BAD.slice(i, i + 4).map(async ([args, message]) => {
          const home = freshHome();
          const res = await runCliWith([...args, ...(args[0] === 'serve' ? ['--workspace', ws.path] : [])], cliEnv(home), {
            timeoutMs: 10_000,
          });
          return { args, message, res, home };
        }),
      )),
    );
  }
  for (const { args, message, res, home } of results) {
    const what = `session-coordinator ${args.join(' ')}`;
    assertBadUsage(res, what, message);
    assert.deepEqual(readdirSync(home), [], `${what}: wrote nothing to the install dir`);
  }
});

test('R-CLI-4: an empty --port is bad usage too, not a silent "any port"', async () => {
  const home = freshHome();
  const res = await runCliWith(['serve', '--port', '', '--workspace', ws.path], cliEnv(home), { timeoutMs: 5000 });
  assert.doesNotMatch(res.stderr, /listening on/, 'serve must not start on a random port when --port is empty');
  assertBadUsage(res, 'serve --port ""', /--port/);
});

test('R-CLI-4: no command at all prints usage on stderr (never into a pipe) and exits 2', async () => {
  const res = await runCliWith([], cliEnv(freshHome()));
  assert.equal(res.code, 2);
  assertUsage(res.stderr, 'no command');
  assert.equal(res.stdout, '');
});

test('R-CLI-4: --help, -h, help and <command> --help print usage on stdout and exit 0', async () => {
  for (const args of [['--help'], ['-h'], ['help'], ['serve', '--help'], ['status', '-h'], ['config', '--help'], ['hook', '--help']]) {
    const home = freshHome();
    const res = await runCliWith(args, cliEnv(home), { timeoutMs: 10_000 });
    const what = args.join(' ');
    assert.equal(res.timedOut, false, `${what}: exits by itself`);
    assert.equal(res.code, 0, `${what}: ${res.stderr}`);
    assert.equal(res.stderr, '', `${what}: nothing on stderr`);
    assert.deepEqual(readdirSync(home), [], `${what}: starts nothing`);
    const command = args.length === 2 ? args[0]! : undefined;
    if (!command) {
      assertUsage(res.stdout, what);
      continue;
    }
    // A command's help is that command's: its synopsis and the options that name it, not every command's.
    assert.match(res.stdout, new RegExp(`^Usage: session-coordinator ${command} `), `${what}: its own synopsis first`);
    for (const other of ['serve', 'status', 'config', 'setup', 'hook'].filter((c) => c !== command))
      assert.doesNotMatch(res.stdout, new RegExp(`^ {2}${other} `, 'm'), `${what}: does not list ${other}`);
    assert.equal(/--max-sessions/.test(res.stdout), command === 'serve', `${what}: serve's options only under serve`);
    assert.equal(/Exit codes: 0 success/.test(res.stdout), command !== 'hook', `${what}: the hook's exit codes are its own`);
  }
});

test('R-CLI-4: --version prints the package version on stdout and exits 0', async () => {
  const res = await runCliWith(['--version'], cliEnv(freshHome()));
  assert.equal(res.code, 0);
  assert.equal(res.stderr, '');
  const { version } = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
  assert.match(res.stdout, /^\d+\.\d+\.\d+(?:-[\w.]+)?\n$/);
  assert.equal(res.stdout.trim(), version);
});

test('R-CLI-4: serve on a port already in use exits 1 promptly, naming the port, with no discovery file left', async () => {
  const busy = await busyPort();
  try {
    const home = freshHome();
    const res = await runCliWith(['serve', '--port', String(busy.port), '--workspace', ws.path], cliEnv(home), { timeoutMs: 5000 });
    assert.equal(res.timedOut, false, `serve exits by itself (killed after 5 s)\n${res.stderr}`);
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, new RegExp(`^session-coordinator: .*${busy.port}`, 'm'));
    assert.doesNotMatch(res.stderr, USAGE_HEAD, 'a failure is not a usage error');
    assert.doesNotMatch(res.stderr, /listening on/);
    assert.equal(res.stdout, '');
    const participants = path.join(home, 'participants');
    assert.ok(!existsSync(participants) || readdirSync(participants).length === 0, 'no discovery file');
  } finally {
    await busy.release();
  }
});

test('R-CLI-4: serve whose install dir is unusable (a file) exits 1 with a message naming it, when it fails on the token file', async () => {
  const notADir = path.join(freshHome(), 'home-is-a-file');
  writeFileSync(notADir, 'x');
  const { SESSION_COORDINATOR_TOKEN: _t, ...noToken } = cliEnv(notADir);
  const res = await runCliWith(['serve', '--workspace', ws.path], noToken, { timeoutMs: 5000 });
  assert.equal(res.timedOut, false, `serve exits by itself (killed after 5 s)\n${res.stderr}`);
  assert.equal(res.code, 1, res.stderr);
  assert.match(res.stderr, /^session-coordinator: .*home-is-a-file/m);
  assert.doesNotMatch(res.stderr, USAGE_HEAD, 'a failure is not a usage error');
  assert.doesNotMatch(res.stderr, /listening on/);
});

test('R-CLI-4: serve whose install dir is unusable exits 1 promptly even when it fails after listening (discovery file), not hang half set up', async () => {
  const notADir = path.join(freshHome(), 'home-is-a-file');
  writeFileSync(notADir, 'x');
  // With the token from the environment, serve gets as far as listening before it needs the install dir.
  const res = await runCliWith(['serve', '--workspace', ws.path], cliEnv(notADir), { timeoutMs: 5000 });
  assert.equal(res.timedOut, false, `serve exits by itself after failing (it was killed after 5 s)\n${res.stderr}`);
  assert.equal(res.code, 1, res.stderr);
  assert.match(res.stderr, /^session-coordinator: .*home-is-a-file/m);
  assert.doesNotMatch(res.stderr, USAGE_HEAD);
});

test('R-CLI-4, R-AGT-3: config exits 0 with the config alone on stdout (its hint on stderr), and status with nothing live exits 3, writing nothing to stderr', async () => {
  const home = freshHome();
  const cfg = await runCliWith(['config', 'vscode', '--workspace', ws.path], cliEnv(home));
  assert.equal(cfg.code, 0);
  assert.match(cfg.stderr, /^Paste into \.vscode\/mcp\.json/);
  assert.doesNotThrow(() => JSON.parse(cfg.stdout));
  const none = await runCliWith(['status', '--workspace', ws.path], cliEnv(home));
  assert.equal(none.code, 3, 'no live participant is exit 3, not a failure');
  assert.equal(none.stderr, '');
});
