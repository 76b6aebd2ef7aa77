import { spawn } from 'node:child_process';
import { bundledWorker, workerScript } from './bundle.js';
import { onLines } from './processes.js';
import type { TlsWorkerCommand, TlsWorkerConfig, TlsWorkerMessage, WorkerError } from './redisTlsWorker.js';

/** Bundles the worker once per test process. */
export function buildTlsWorker(): Promise<string> {
  return bundledWorker('redisTlsWorker.ts');
}

type Opened = Extract<TlsWorkerMessage, { type: 'opened' | 'openFailed' }>;
type Distribute<T> = T extends { id: number } ? Omit<T, 'id'> : never;

/** A store in its own process, opened with `NODE_EXTRA_CA_CERTS` set (or unset) as a user would. */
export interface TlsStoreWorker {
  readonly opened: Opened;
  /** Every store event the worker saw, in order. */
  readonly events: Array<Extract<TlsWorkerMessage, { type: 'event' }>>;
  readonly logs: Array<Extract<TlsWorkerMessage, { type: 'log' }>>;
  stderr(): string;
  /** Sends a command; rejects after timeoutMs (a hang is a failure, not a stuck test). */
  call(
    command: Distribute<TlsWorkerCommand>,
    timeoutMs?: number,
  ): Promise<{ ok: true; result: unknown } | { ok: false; error: WorkerError }>;
  /** Disposes the store and waits for the process to exit (SIGKILL after 3 s). */
  stop(): Promise<void>;
}

export interface TlsWorkerStart extends TlsWorkerConfig {
  /** The PEM file NODE_EXTRA_CA_CERTS names; absent: the variable is unset. */
  extraCaCerts?: string;
  /** How long to wait for the `opened`/`openFailed` line. */
  openTimeoutMs?: number;
}

export async function startTlsStoreWorker(start: TlsWorkerStart): Promise<TlsStoreWorker> {
  await buildTlsWorker();
  const { extraCaCerts, openTimeoutMs = 10_000, ...config } = start;
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  if (extraCaCerts) env.NODE_EXTRA_CA_CERTS = extraCaCerts;
  const child = spawn(process.execPath, [workerScript('redisTlsWorker.ts'), JSON.stringify(config)], {
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  let nextId = 1;
  const events: TlsStoreWorker['events'] = [];
  const logs: TlsStoreWorker['logs'] = [];
  const waiting = new Map<number, (m: Extract<TlsWorkerMessage, { type: 'reply' }>) => void>();
  let onOpened: ((m: Opened) => void) | undefined;
  let exited: string | undefined;
  const onExit: Array<() => void> = [];
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  onLines(child.stdout!, (line) => {
    if (!line.startsWith('{')) return;
    const m = JSON.parse(line) as TlsWorkerMessage;
    if (m.type === 'event') events.push(m);
    else if (m.type === 'log') logs.push(m);
    else if (m.type === 'reply') waiting.get(m.id)?.(m);
    else onOpened?.(m);
  });
  child.once('exit', (code, signal) => {
    exited = `worker exited (code ${code}, signal ${signal}): ${stderr.slice(-2000)}`;
    for (const f of onExit.splice(0)) f();
  });

  const opened = await new Promise<Opened>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the store worker did not open its store within ${openTimeoutMs} ms: ${stderr}`)),
      openTimeoutMs,
    );
    onOpened = (m) => {
      clearTimeout(timer);
      resolve(m);
    };
    onExit.push(() => {
      clearTimeout(timer);
      reject(new Error(exited));
    });
  });

  const call: TlsStoreWorker['call'] = (command, timeoutMs = 5000) => {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      if (exited) return reject(new Error(exited));
      const timer = setTimeout(() => reject(new Error(`no answer to ${command.op} within ${timeoutMs} ms`)), timeoutMs);
      waiting.set(id, (m) => {
        clearTimeout(timer);
        waiting.delete(id);
        resolve(m.ok ? { ok: true, result: m.result } : { ok: false, error: m.error });
      });
      onExit.push(() => {
        clearTimeout(timer);
        reject(new Error(exited));
      });
      child.stdin.write(JSON.stringify({ ...command, id }) + '\n');
    });
  };

  const stop = async (): Promise<void> => {
    if (exited) return;
    const gone = new Promise<void>((resolve) => onExit.push(resolve));
    const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
    if (opened.type === 'opened') await call({ op: 'dispose' }, 3000).catch(() => undefined);
    child.stdin.end();
    await gone;
    clearTimeout(kill);
  };

  return { opened, events, logs, stderr: () => stderr, call, stop };
}
