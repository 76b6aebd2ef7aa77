import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { REPO } from '../processes.js';

/** The binary scripts/agents/install.mjs installed for an agent (under .cache/agents/<folder>), or a message saying how to install it. */
export function installedAgent(folder: string, name: string, version: string): string {
  const marker = path.join(REPO, '.cache', 'agents', folder, `.installed-${version}`);
  if (!existsSync(marker)) throw new Error(`${name} ${version} is not installed: run node scripts/agents/install.mjs (npm test does)`);
  return readFileSync(marker, 'utf8').trim();
}

export interface AgentResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** When the process exited (Date.now()). */
  exitedAt: number;
}

/** Waits for an agent's run to end; past the deadline, kills its whole process group (it was spawned detached). */
export function agentRun(child: ChildProcess, name: string, timeoutMs: number): Promise<AgentResult> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      process.kill(-child.pid!, 'SIGKILL');
      reject(new Error(`${name} did not finish in ${timeoutMs} ms:\n${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.once('error', reject);
    let exitedAt = 0;
    child.once('exit', () => (exitedAt = Date.now()));
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, exitedAt: exitedAt || Date.now() });
    });
  });
}
