import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface ServerChild {
  child: ChildProcess;
  url: string;
  /** The last few KB of stderr, for error messages. */
  stderrTail(): string;
  stop(): Promise<void>;
}

/** Keeps only the tail of a stream (our server logs every session open/close at info: the pipe must be drained). */
export function drain(stream: { on(event: 'data', listener: (d: Buffer) => void): unknown } | null | undefined, keep = 8192): () => string {
  let tail = '';
  stream?.on('data', (d: Buffer) => {
    tail += d.toString();
    if (tail.length > keep * 2) tail = tail.slice(-keep);
  });
  return () => tail.slice(-keep);
}

/** Spawns a server that prints `listening on http://...` on stderr and waits for that URL. */
export function startHttpChild(args: string[], options: SpawnOptions, what: string): Promise<ServerChild> {
  const child = spawn(process.execPath, args, { ...options, stdio: options.stdio ?? ['ignore', 'ignore', 'pipe'] });
  let seen = '';
  const tail = drain(child.stderr);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not print its URL in 15 s:\n${tail()}`)), 15_000);
    const onData = (d: Buffer): void => {
      seen += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(seen);
      if (m?.[1]) {
        clearTimeout(timer);
        child.stderr!.off('data', onData);
        resolve({ child, url: m[1], stderrTail: tail, stop: () => stopChild(child) });
      }
    };
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code} before listening:\n${tail()}`));
    });
  });
}

export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

let clockTicks: number | undefined;

/** User+system CPU time a process has used so far, in ms (Linux /proc; NaN elsewhere). */
export function cpuMs(pid: number | undefined | null): number {
  if (pid == null) return NaN;
  try {
    clockTicks ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the ")" that ends the command name: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
  } catch {
    return NaN;
  }
}
