import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { CLI, cliEnv } from './processes.js';

/** cliEnv with no SESSION_COORDINATOR_TOKEN at all, so the install's token file is used. */
export function cliEnvWithoutToken(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = cliEnv(home, extra);
  delete env.SESSION_COORDINATOR_TOKEN;
  return env;
}

/** The pid of a process that has already exited. */
export function deadPid(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', () => resolve(child.pid!));
  });
}

/** Everything a stream has emitted so far, as a string. */
export function collect(stream: NodeJS.ReadableStream): () => string {
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  return () => text;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the process had to be killed because it outlived timeoutMs. */
  timedOut: boolean;
  ms: number;
}

/**
 * Runs the built CLI to completion with a deadline: a CLI that should have
 * exited but did not is killed (by its pid) and reported as timedOut.
 */
export function runCliWith(
  args: string[],
  env: NodeJS.ProcessEnv,
  options: { cwd?: string; timeoutMs?: number; stdin?: string } = {},
): Promise<CliResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout = collect(child.stdout);
    const stderr = collect(child.stderr);
    if (options.stdin !== undefined) child.stdin.end(options.stdin);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 10_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: stdout(), stderr: stderr(), timedOut, ms: Date.now() - started });
    });
  });
}

/** Permission bits of a file or folder (e.g. 0o600). */
export function modeOf(file: string): number {
  return statSync(file).mode & 0o777;
}

export async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The exit code once the child has exited and its output is drained, or 'hung' if that takes longer than ms. */
export function exitWithin(child: ChildProcess, ms: number): Promise<number | null | 'hung'> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('hung'), ms);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** `s` as a literal inside a RegExp: paths and URLs in a CLI's output. */
export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
