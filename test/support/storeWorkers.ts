import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { REPO } from './processes.js';

export const WORKER = path.join(REPO, '.cache', 'storeWorker.js');
let built: Promise<unknown> | undefined;

/** Bundles the worker once per test process: a plain node start is much faster than tsx. */
export function buildWorker(): Promise<unknown> {
  built ??= esbuild.build({
    entryPoints: [path.join(REPO, 'test', 'support', 'storeWorker.ts')],
    outfile: WORKER,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'error',
  });
  return built;
}

export interface WorkerConfig {
  mode: 'cas' | 'update' | 'unique';
  root: string;
  count: number;
  prefix: string;
  namespace: string;
  key?: string;
  staleMs?: number;
  /** Concurrent loops in the worker process (agents of one window); 1 unless set. */
  agents?: number;
}

export interface WorkerResult {
  done: boolean;
  conflicts: number;
  ms: number;
  latencies: number[];
  compromised: number;
  retries: number;
  rejected: number;
  writes: number;
  commits: number;
}

export function startWorker(
  config: WorkerConfig,
  onLine?: (line: string) => void,
): { child: ChildProcess; result: Promise<WorkerResult | undefined> } {
  const child = spawn(process.execPath, [WORKER, JSON.stringify({ key: 'k', staleMs: 2000, agents: 1, ...config })], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let buffer = '';
  let result: WorkerResult | undefined;
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.on('data', (d: Buffer) => {
    buffer += d.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.startsWith('{')) result = JSON.parse(line) as WorkerResult;
      else onLine?.(line);
    }
  });
  return {
    child,
    result: new Promise((resolve, reject) =>
      child.once('exit', (code, signal) => {
        if (code !== 0 && signal === null) reject(new Error(`worker exited ${code}: ${stderr}`));
        else resolve(result);
      }),
    ),
  };
}
