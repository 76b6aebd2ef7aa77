// `npm run bench`, idle figures (the store-speed issue): how much of a core a
// participant uses when nothing happens, with no session and with 10 idle
// agents connected, against a bare Node process that only keeps a timer,
// measured over the same window. CPU time is the process's own utime+stime
// (/proc/<pid>/stat), so the machine's noise does not count.
// `npm run bench -- idle-cpu` runs only these figures; BENCH_IDLE_S shortens the window.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { httpClient } from '../test/support/mcpClients.js';
import { startServe, type ServeHandle } from '../test/support/processes.js';
import { tempDir } from '../test/support/workspace.js';
import { MACHINE, report, runEntry } from './support/report.js';
import { sig } from './support/stats.js';

const REPO = process.env.BENCH_REPO ?? process.cwd();
const only = new Set(process.argv.slice(2));
const want = (name: string): boolean => only.size === 0 || [...only].some((o) => name.startsWith(o));
const WINDOW_S = Math.max(10, Number(process.env.BENCH_IDLE_S) || 60);
const TARGET_PERCENT = 0.2;
const cleanup: Array<() => Promise<unknown>> = [];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** CPU milliseconds a process has used so far (USER_HZ is 100 on Linux). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Percent of one core each process used over the window. */
async function overWindow(pids: number[]): Promise<number[]> {
  const before = pids.map(cpuMs);
  const started = performance.now();
  await sleep(WINDOW_S * 1000);
  const wall = performance.now() - started;
  return pids.map((pid, i) => ((cpuMs(pid) - before[i]!) / wall) * 100);
}

function bareNode(): ChildProcess {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  cleanup.push(async () => child.kill());
  return child;
}

async function idle(server: ServeHandle, sessions: number): Promise<void> {
  const clients = [];
  for (let i = 0; i < sessions; i++) {
    const c = await httpClient(server.url, `idle-agent-${i}`);
    clients.push(c);
    cleanup.push(() => c.client.close());
  }
  // Let start-up settle (JIT, first polls) before the window opens.
  await sleep(3000);
  const bare = bareNode();
  await sleep(1000);
  const [ours, floor] = await overWindow([server.child.pid!, bare.pid!]);
  const name = sessions === 0 ? 'idle-cpu' : `idle-cpu-${sessions}-sessions`;
  report(
    name,
    ours!,
    Math.max(floor!, 0.01),
    '% of a core',
    undefined,
    `serve --http with ${sessions} idle session(s) (file store, no other participant) over ${WINDOW_S} s: ${sig(ours!, 3)}% of a core; ` +
      `a bare node process with a 1 s timer over the same window: ${sig(floor!, 3)}%; target: <= ${TARGET_PERCENT}% of a core`,
    ours! <= TARGET_PERCENT,
  );
  bare.kill();
  for (const c of clients) await c.client.close().catch(() => undefined);
}

async function main(): Promise<void> {
  console.error(`bench (idle): ${MACHINE}`);
  if (want('idle-cpu')) {
    for (const sessions of [0, 10]) {
      const ws = tempDir('sc-bench-idle-');
      const home = tempDir('sc-bench-idle-home-');
      cleanup.push(ws.remove, home.remove);
      const server = await startServe(ws.path, home.path, ['--log-level', 'warn']);
      cleanup.push(() => server.stop());
      await idle(server, sessions);
      await server.stop();
    }
  }
}

runEntry('idle', REPO, main, cleanup);
