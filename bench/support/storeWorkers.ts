import { spawn, type ChildProcess } from 'node:child_process';
import { drain } from './processes.js';
import type { ParentMessage, StoreJob, WorkerMessage } from './storeWorker.js';

export interface StoreWorker {
  child: ChildProcess;
  /** The next message of this type (earlier messages of other types are kept). */
  next<T extends WorkerMessage['type']>(type: T, timeoutMs?: number): Promise<Extract<WorkerMessage, { type: T }>>;
  send(message: ParentMessage): void;
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
}

const live = new Set<ChildProcess>();

/** Starts bench/support/storeWorker.ts (bundled at `script`) on one job. */
export function startStoreWorker(script: string, job: StoreJob): StoreWorker {
  const child = spawn(process.execPath, [script, JSON.stringify(job)], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  live.add(child);
  const stderr = drain(child.stderr);
  const inbox: WorkerMessage[] = [];
  const waiters = new Set<() => void>();
  let exited: string | undefined;
  child.on('message', (m: WorkerMessage) => {
    inbox.push(m);
    for (const w of waiters) w();
  });
  child.once('exit', (code, signal) => {
    live.delete(child);
    exited = `${job.mode} worker exited (${code ?? signal})`;
    for (const w of waiters) w();
  });
  const next = async <T extends WorkerMessage['type']>(type: T, timeoutMs = 120_000): Promise<Extract<WorkerMessage, { type: T }>> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = inbox.findIndex((m) => m.type === type);
      if (i >= 0) return inbox.splice(i, 1)[0] as Extract<WorkerMessage, { type: T }>;
      if (exited !== undefined) throw new Error(`${exited} before sending ${type}:\n${stderr()}`);
      if (Date.now() > deadline) throw new Error(`${job.mode} worker sent no ${type} in ${timeoutMs} ms:\n${stderr()}`);
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, Math.max(0, deadline - Date.now()) + 1);
        waiters.add(wake);
      });
    }
  };
  return {
    child,
    next,
    send: (message) => child.send(message),
    kill: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

/** Kills whatever workers are still running (a crashed bench). */
export function killStoreWorkers(): void {
  for (const c of live) c.kill('SIGKILL');
}
