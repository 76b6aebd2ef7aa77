import { spawn, type ChildProcess } from 'node:child_process';
import { bundledWorker, workerScript } from './bundle.js';
import { onLines } from './processes.js';

/** Which backend a worker process opens: the file store of a folder, or a Redis project (each worker its own folder). */
export type BackendConfig = { kind: 'file'; root: string } | { kind: 'redis'; url: string; projectId: string };

export interface ContractWorkerConfig {
  backend: BackendConfig;
  mode: 'cas' | 'update' | 'incr' | 'unique' | 'race' | 'hold';
  prefix: string;
  count: number;
  namespace: string;
  key: string;
  resource: string;
}

/** Bundles the worker once per test process. */
export function buildContractWorker(): Promise<string> {
  return bundledWorker('contractWorker.ts');
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
  const child = spawn(process.execPath, [workerScript('contractWorker.ts'), JSON.stringify(full)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let final: { done: boolean; conflicts: number; ms: number } | undefined;
  const lines: string[] = [];
  const waiters: Array<(line: string) => void> = [];
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  onLines(child.stdout!, (line) => {
    if (line.startsWith('{')) {
      final = JSON.parse(line) as typeof final;
      return;
    }
    onLine?.(line);
    const waiter = waiters.shift();
    if (waiter) waiter(line);
    else lines.push(line);
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
