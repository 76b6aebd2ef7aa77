import { spawn, type ChildProcess } from 'node:child_process';
import type { Failpoint } from '../../src/core/store/file/failpoints.js';
import type { ShardIoMode } from '../../src/core/store/file/shardIo.js';
import { bundledWorker, workerScript } from './bundle.js';
import { onLines } from './processes.js';

/** Bundles the worker once per test process. */
export function buildWorker(): Promise<string> {
  return bundledWorker('storeWorker.ts');
}

export interface WorkerConfig {
  mode: 'cas' | 'update' | 'unique';
  root: string;
  count: number;
  prefix: string;
  namespace: string;
  key?: string;
  staleMs?: number;
  rotateBytes?: number;
  /** Concurrent loops in the worker process (agents of one window); 1 unless set. */
  agents?: number;
  /** How its store's file calls run; unless set, workers take turns (a window's worker thread, a headless process's blocking calls, async), so every cross-process test has the drivers contend. */
  io?: ShardIoMode;
  /** Places where the worker stops itself, each once (SIGSTOP; see src/core/store/file/failpoints.ts). */
  failpoint?: Failpoint | Failpoint[];
  /** A write that fails is reported (`err <key> <message>`) and the loop goes on. */
  tolerateErrors?: boolean;
}

let started = 0;
const IO_MODES: readonly ShardIoMode[] = ['worker', 'blocking', 'async'];

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
  const child = spawn(
    process.execPath,
    [
      workerScript('storeWorker.ts'),
      JSON.stringify({ key: 'k', staleMs: 2000, agents: 1, io: IO_MODES[started++ % IO_MODES.length], ...config }),
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: config.failpoint ? { ...process.env, SESSION_COORDINATOR_FAILPOINT: [config.failpoint].flat().join(',') } : process.env,
    },
  );
  let result: WorkerResult | undefined;
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  onLines(child.stdout!, (line) => {
    if (line.startsWith('{')) result = JSON.parse(line) as WorkerResult;
    else onLine?.(line);
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
