import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { REPO } from './processes.js';

/** Which backend a worker process opens: the file store of a folder, or a Redis project (each worker its own folder). */
export type BackendConfig = { kind: 'file'; root: string } | { kind: 'redis'; url: string; projectId: string };

export interface ContractWorkerConfig {
  backend: BackendConfig;
  mode: 'cas' | 'update' | 'unique' | 'race' | 'hold';
  prefix: string;
  count: number;
  namespace: string;
  key: string;
  resource: string;
}

export const CONTRACT_WORKER = path.join(REPO, '.cache', 'contractWorker.js');
let built: Promise<unknown> | undefined;

/** Bundles the worker once per test process: a plain node start is much faster than tsx. */
export function buildContractWorker(): Promise<unknown> {
  built ??= esbuild.build({
    entryPoints: [path.join(REPO, 'test', 'support', 'contractWorker.ts')],
    outfile: CONTRACT_WORKER,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'error',
  });
  return built;
}

export interface ContractWorker {
  readonly child: ChildProcess;
  /** Resolves with the final JSON line (cas, update, unique), or undefined; rejects when the worker failed. */
  readonly result: Promise<{ done: boolean; conflicts: number; ms: number } | undefined>;
  /** The next line the worker prints (not the final JSON). */
  nextLine(timeoutMs?: number): Promise<string>;
  send(line: string): void;
}

export function startContractWorker(
  config: Partial<ContractWorkerConfig> & Pick<ContractWorkerConfig, 'backend' | 'mode' | 'prefix'>,
  onLine?: (line: string) => void,
): ContractWorker {
  const full: ContractWorkerConfig = { count: 0, namespace: 'ns', key: 'k', resource: 'task:race', ...config };
  const child = spawn(process.execPath, [CONTRACT_WORKER, JSON.stringify(full)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let buffer = '';
  let stderr = '';
  let final: { done: boolean; conflicts: number; ms: number } | undefined;
  const lines: string[] = [];
  const waiters: Array<(line: string) => void> = [];
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.on('data', (d: Buffer) => {
    buffer += d.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.startsWith('{')) {
        final = JSON.parse(line) as typeof final;
        continue;
      }
      onLine?.(line);
      const waiter = waiters.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    }
  });
  const result = new Promise<typeof final>((resolve, reject) =>
    child.once('exit', (code, signal) => {
      if (code !== 0 && signal === null) reject(new Error(`contract worker exited ${code}: ${stderr}`));
      else resolve(final);
    }),
  );
  return {
    child,
    result,
    nextLine: (timeoutMs = 15_000) => {
      const ready = lines.shift();
      if (ready !== undefined) return Promise.resolve(ready);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no line from the worker in ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
        waiters.push((line) => {
          clearTimeout(timer);
          resolve(line);
        });
      });
    },
    send: (line) => void child.stdin!.write(line + '\n'),
  };
}
