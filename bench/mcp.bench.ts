// `npm run bench`: our MCP server against the bare SDK, measured in the same
// run, on the same machine, in alternating rounds (ours first in even rounds,
// bare first in odd ones) so drift hits both sides alike; values are medians.
// Prints one `BENCH ...` line per figure and writes bench/results.json.
// Run through scripts/bench.mjs, which builds dist/cli.js and bundles this
// file and the servers under bench/support into .cache/bench/.
// `node scripts/bench.mjs <figure> ...` runs only the named figures.
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Coordinator } from '../src/core/coordinator.js';
import { silentLogger } from '../src/core/logging/logger.js';
import type { Session } from '../src/core/sessions/session.js';
import { closeHttp, newHttpConn, openHttp, openStdio, whoami, type HttpConn } from './support/clients.js';
import type { HeapReport } from './support/inProcessServer.js';
import { cpuMs, drain, startHttpChild, type ServerChild } from './support/processes.js';
import { figures, MACHINE, report, writeFigures } from './support/report.js';
import { median, quantile, sig } from './support/stats.js';

const REPO = process.env.BENCH_REPO ?? process.cwd();
const BUILD = process.env.BENCH_BUILD ?? path.join(REPO, '.cache', 'bench');
const CLI = path.join(REPO, 'dist', 'cli.js');
const TOKEN = `bench-${randomBytes(16).toString('hex')}`;
const only = new Set(process.argv.slice(2));
/** Diagnostics only: extra node options (e.g. --cpu-prof) and CLI options (e.g. --log-level warn) for OUR server. */
const OURS_NODE_ARGS = (process.env.BENCH_OURS_NODE_ARGS ?? '').split(' ').filter(Boolean);
const OURS_ARGS = (process.env.BENCH_OURS_ARGS ?? '').split(' ').filter(Boolean);

type Side = 'ours' | 'bare';
const SIDES: readonly Side[] = ['ours', 'bare'];

/** Runs `rounds` rounds of `body` for both sides, alternating which side goes first. */
async function interleave(rounds: number, body: (side: Side, round: number) => Promise<void>): Promise<void> {
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? SIDES : [...SIDES].reverse();
    for (const side of order) await body(side, r);
  }
}

const ms = (n: number): string => `${sig(n, 3)} ms`;
const perSide = <T>(make: () => T): Record<Side, T> => ({ ours: make(), bare: make() });

function tempDir(prefix: string): string {
  return realpathSync(mkdtempSync(path.join(os.tmpdir(), prefix)));
}

const tempDirs: string[] = [];
/** One workspace per server of ours, so each sees only its own presence in the shared store. */
function newWorkspace(): string {
  const dir = tempDir('sc-bench-ws-');
  tempDirs.push(dir);
  return dir;
}
const home = tempDir('sc-bench-home-');
tempDirs.push(home);
const serverEnv = { ...process.env, SESSION_COORDINATOR_TOKEN: TOKEN, SESSION_COORDINATOR_HOME: home };
const children = new Set<ChildProcess>();

async function startHttpServers(): Promise<Record<Side, ServerChild>> {
  const workspace = newWorkspace();
  const [ours, bare] = await Promise.all([
    startHttpChild(
      [...OURS_NODE_ARGS, CLI, 'serve', '--http', '--workspace', workspace, ...OURS_ARGS],
      { env: serverEnv, cwd: REPO },
      'our serve --http',
    ),
    startHttpChild([path.join(BUILD, 'bareHttpServer.js'), newWorkspace()], { env: serverEnv, cwd: REPO }, 'bare HTTP server'),
  ]);
  children.add(ours.child).add(bare.child);
  return { ours, bare };
}

async function stopServers(servers: Record<Side, ServerChild>): Promise<void> {
  for (const s of SIDES) {
    await servers[s].stop();
    children.delete(servers[s].child);
  }
}

const tokenFor = (side: Side): string | undefined => (side === 'ours' ? TOKEN : undefined);

/** Compares whoami's input and output schemas as both servers list them (on throwaway sessions, so the measured clients do not validate output). */
async function sameSchemas(servers: Record<Side, ServerChild>): Promise<string> {
  const listed = perSide<string>(() => '');
  for (const s of SIDES) {
    const conn = await openHttp(servers[s].url, tokenFor(s), 'bench-schema');
    const tool = (await conn.client.listTools()).tools.find((t) => t.name === 'whoami');
    listed[s] = JSON.stringify({ input: tool?.inputSchema, output: tool?.outputSchema });
    await closeHttp(conn);
  }
  if (listed.ours === listed.bare) return 'identical whoami input/output schemas in tools/list';
  console.error(`bench: WARNING: whoami schemas differ; update bench/support/bareWhoami.ts\n  ours ${listed.ours}\n  bare ${listed.bare}`);
  return 'DIFFERENT whoami schemas in tools/list (update bench/support/bareWhoami.ts)';
}

function sameShape(a: Record<string, unknown>, b: Record<string, unknown>): string {
  const keys = (o: Record<string, unknown>): string => Object.keys(o).sort().join(',');
  return keys(a) === keys(b) ? 'same structuredContent keys' : `DIFFERENT structuredContent keys: ours {${keys(a)}} bare {${keys(b)}}`;
}

// ---------------------------------------------------------------- figures

async function httpCall(servers: Record<Side, ServerChild>): Promise<void> {
  const first = { ours: await openHttp(servers.ours.url, TOKEN), bare: await openHttp(servers.bare.url, undefined) };
  const shape = `${await sameSchemas(servers)}; ${sameShape(await whoami(first.ours.client), await whoami(first.bare.client))}`;
  for (const s of SIDES) for (let i = 0; i < 300; i++) await whoami(first[s].client);
  for (const s of SIDES) await closeHttp(first[s]);
  const ROUNDS = 12;
  const CALLS = 100;
  const samples = perSide<number[]>(() => []);
  const roundMedians = perSide<number[]>(() => []);
  const cpu = perSide(() => 0);
  // A fresh session per round (opened and warmed outside the timing): undici's fetch leaves one abort
  // listener per request on the client transport's signal until GC, so a client used for thousands
  // of calls gets slower on the client side and warns at 1,500.
  await interleave(ROUNDS, async (side) => {
    const conn = await openHttp(servers[side].url, tokenFor(side));
    for (let i = 0; i < 20; i++) await whoami(conn.client);
    const own: number[] = [];
    const cpu0 = cpuMs(servers[side].child.pid);
    for (let i = 0; i < CALLS; i++) {
      const t0 = performance.now();
      await whoami(conn.client);
      own.push(performance.now() - t0);
    }
    cpu[side] += cpuMs(servers[side].child.pid) - cpu0;
    await closeHttp(conn);
    samples[side].push(...own);
    roundMedians[side].push(median(own));
  });
  const n = ROUNDS * CALLS;
  const roundRatios = roundMedians.ours.map((o, i) => o / roundMedians.bare[i]!);
  report(
    'mcp-http-call',
    median(samples.ours),
    median(samples.bare),
    'ms',
    { op: '<=', limit: 1.15 },
    `whoami p50 over ${ROUNDS}x${CALLS} calls per side, one session per round, SSE response mode; ` +
      `p90 ours ${ms(quantile(samples.ours, 0.9))} bare ${ms(quantile(samples.bare, 0.9))}; ` +
      `per-round p50 ratios median ${sig(median(roundRatios), 3)} (min ${sig(Math.min(...roundRatios), 3)}, max ${sig(Math.max(...roundRatios), 3)}); ` +
      `server CPU per call ours ${ms(cpu.ours / n)} bare ${ms(cpu.bare / n)} (ratio ${sig(cpu.ours / cpu.bare, 3)}); ${shape}`,
  );
}

async function stdioCall(): Promise<void> {
  const workspace = newWorkspace();
  const env = Object.fromEntries(Object.entries(serverEnv).filter((e): e is [string, string] => e[1] !== undefined));
  const conns = {
    ours: await openStdio(
      process.execPath,
      [...OURS_NODE_ARGS, CLI, 'serve', '--stdio', '--workspace', workspace, ...OURS_ARGS],
      env,
      REPO,
    ),
    bare: await openStdio(process.execPath, [path.join(BUILD, 'bareStdioServer.js'), newWorkspace()], env, REPO),
  };
  try {
    const shape = sameShape(await whoami(conns.ours.client), await whoami(conns.bare.client));
    const ROUNDS = 12;
    const CALLS = 300;
    for (const s of SIDES) for (let i = 0; i < 1000; i++) await whoami(conns[s].client);
    const samples = perSide<number[]>(() => []);
    const cpu = perSide(() => 0);
    await interleave(ROUNDS, async (side) => {
      const pid = conns[side].transport.pid;
      const cpu0 = cpuMs(pid);
      for (let i = 0; i < CALLS; i++) {
        const t0 = performance.now();
        await whoami(conns[side].client);
        samples[side].push(performance.now() - t0);
      }
      cpu[side] += cpuMs(pid) - cpu0;
    });
    const n = ROUNDS * CALLS;
    report(
      'mcp-stdio-call',
      median(samples.ours),
      median(samples.bare),
      'ms',
      { op: '<=', limit: 1.15 },
      `whoami p50 over ${ROUNDS}x${CALLS} calls per side on one connection each; ours = node dist/cli.js serve --stdio, bare = node .cache/bench/bareStdioServer.js (both esbuild bundles, same options); ` +
        `p90 ours ${ms(quantile(samples.ours, 0.9))} bare ${ms(quantile(samples.bare, 0.9))}; server CPU per call ours ${ms(cpu.ours / n)} bare ${ms(cpu.bare / n)} (ratio ${sig(cpu.ours / cpu.bare, 3)}); ${shape}`,
    );
  } finally {
    for (const s of SIDES) await conns[s].client.close();
  }
}

async function httpConcurrent(servers: Record<Side, ServerChild>): Promise<void> {
  const CLIENTS = 20;
  const ROUNDS = 6;
  const SECONDS = 1.5;
  const conns = perSide<HttpConn[]>(() => []);
  for (const s of SIDES) {
    conns[s] = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => openHttp(servers[s].url, tokenFor(s), `bench-c${i}`)));
  }
  const peersSeen = perSide(() => 0);
  for (const s of SIDES) peersSeen[s] = ((await whoami(conns[s][0]!.client)).peers as unknown[]).length;
  const burst = async (side: Side, seconds: number): Promise<{ calls: number; elapsed: number; serverCpu: number; clientCpu: number }> => {
    const cpu0 = cpuMs(servers[side].child.pid);
    const client0 = process.cpuUsage();
    const start = performance.now();
    const end = start + seconds * 1000;
    let calls = 0;
    await Promise.all(
      conns[side].map(async (c) => {
        while (performance.now() < end) {
          await whoami(c.client);
          calls++;
        }
      }),
    );
    const elapsed = performance.now() - start;
    const clientUsage = process.cpuUsage(client0);
    return { calls, elapsed, serverCpu: cpuMs(servers[side].child.pid) - cpu0, clientCpu: (clientUsage.user + clientUsage.system) / 1000 };
  };
  for (const s of SIDES) await burst(s, 0.75);
  const rates = perSide<number[]>(() => []);
  const cpuPerCall = perSide<number[]>(() => []);
  const clientShare = perSide<number[]>(() => []);
  await interleave(ROUNDS, async (side) => {
    const b = await burst(side, SECONDS);
    rates[side].push(b.calls / (b.elapsed / 1000));
    cpuPerCall[side].push(b.serverCpu / b.calls);
    clientShare[side].push(b.clientCpu / b.elapsed);
  });
  for (const s of SIDES) await Promise.all(conns[s].map(closeHttp));
  report(
    'mcp-http-concurrent',
    median(rates.ours),
    median(rates.bare),
    'calls/s',
    { op: '>=', limit: 0.85 },
    `${CLIENTS} SDK clients, one session each, calling whoami back to back, ${ROUNDS} rounds x ${SECONDS} s per side (whoami answers ${peersSeen.ours} peers ours, ${peersSeen.bare} bare); ` +
      `server CPU per call ours ${ms(median(cpuPerCall.ours))} bare ${ms(median(cpuPerCall.bare))}, so a CPU-bound server's capacity ratio would be ${sig(median(cpuPerCall.bare) / median(cpuPerCall.ours), 3)}; ` +
      `the client process (same for both) used ${sig(median(clientShare.ours), 2)} / ${sig(median(clientShare.bare), 2)} of a core (ours / bare rounds); with other load on the machine, throughput follows CPU share more than server cost`,
  );
}

async function sessionOpen(servers: Record<Side, ServerChild>): Promise<void> {
  const ROUNDS = 12;
  const OPENS = 20;
  const samples = perSide<number[]>(() => []);
  const cpu = perSide(() => 0);
  const once = async (side: Side, record: boolean): Promise<void> => {
    const conn = newHttpConn(servers[side].url, tokenFor(side));
    const t0 = performance.now();
    await conn.client.connect(conn.transport);
    const t = performance.now() - t0;
    if (record) samples[side].push(t);
    await closeHttp(conn);
  };
  for (const s of SIDES) for (let i = 0; i < 30; i++) await once(s, false);
  await interleave(ROUNDS, async (side) => {
    const cpu0 = cpuMs(servers[side].child.pid);
    for (let i = 0; i < OPENS; i++) await once(side, true);
    cpu[side] += cpuMs(servers[side].child.pid) - cpu0;
  });
  const n = ROUNDS * OPENS;
  report(
    'session-open',
    median(samples.ours),
    median(samples.bare),
    'ms',
    { op: '<=', limit: 1.25 },
    `client.connect() (initialize + notifications/initialized) p50 over ${ROUNDS}x${OPENS} per side, each session ended with DELETE + close outside the timing; ` +
      `p90 ours ${ms(quantile(samples.ours, 0.9))} bare ${ms(quantile(samples.bare, 0.9))}; ` +
      `server CPU per session (open + close) ours ${ms(cpu.ours / n)} bare ${ms(cpu.bare / n)} (ratio ${sig(cpu.ours / cpu.bare, 3)}); ours logs one info line per open and per close to stderr (default level)`,
  );
}

function spaceGrowth(from: HeapReport, to: HeapReport): string {
  return (
    Object.keys(to.spaces)
      .map((name) => [name, (to.spaces[name] ?? 0) - (from.spaces[name] ?? 0)] as const)
      .filter(([, d]) => Math.abs(d) >= 16 * 1024)
      .sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]))
      .map(([name, d]) => `${name} ${d >= 0 ? '+' : ''}${sig(d / 1024, 3)} KB`)
      .join(', ') || 'none over 16 KB'
  );
}

async function sessionLeak(): Promise<void> {
  const SESSIONS = 1000;
  // BENCH_LEAK_ROUNDS (diagnostics only) runs more rounds to tell warm-up from a steady leak.
  const ROUNDS = Math.max(2, Number(process.env.BENCH_LEAK_ROUNDS) || 3);
  const PARALLEL = 8;
  const child = spawn(process.execPath, ['--expose-gc', path.join(BUILD, 'inProcessServer.js'), newWorkspace()], {
    env: serverEnv,
    cwd: REPO,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  children.add(child);
  const tail = drain(child.stderr);
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let seen = '';
      child.stderr!.on('data', (d: Buffer) => {
        seen += d.toString();
        const m = /listening on (http:\/\/\S+)/.exec(seen);
        if (m?.[1]) resolve(m[1]);
      });
      child.once('exit', (code) => reject(new Error(`in-process server exited with ${code}:\n${tail()}`)));
    });
    const heap = (): Promise<HeapReport> =>
      new Promise((resolve) => {
        child.once('message', (m) => resolve(m as HeapReport));
        child.send({ cmd: 'heap' });
      });
    const round = async (): Promise<number> => {
      let next = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: PARALLEL }, async () => {
          while (next < SESSIONS) {
            next++;
            const conn = await openHttp(url, TOKEN, 'bench-leak');
            await whoami(conn.client);
            await closeHttp(conn);
          }
        }),
      );
      return performance.now() - t0;
    };
    const before = await heap();
    const after: HeapReport[] = [];
    const times: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      times.push(await round());
      // Let closes that are still on the wire (SSE stream aborts) land before reading.
      await new Promise((r) => setTimeout(r, 250));
      after.push(await heap());
    }
    const first = after[0]!;
    const last = after[ROUNDS - 1]!;
    const mapsOf = (h: HeapReport): string =>
      `transports ${h.openTransports}, sessions ${h.sessions}, requests ${h.requests} (in ${h.requestSessions} sessions), connections ${h.connections}, locks ${h.locks}`;
    const zero = after.every((h) => h.openTransports + h.sessions + h.requests + h.requestSessions + h.connections + h.locks === 0);
    const mb = (b: number): string => `${sig(b / 1048576, 4)} MB`;
    report(
      'session-leak',
      last.heapUsed / 1048576,
      first.heapUsed / 1048576,
      'MB heapUsed after gc',
      { op: '<=', limit: 1.05 },
      `our server (src/core Participant: Coordinator + FileStore + McpHost + HttpEndpoint, as serve --http) in a --expose-gc child; ${ROUNDS} rounds of ${SESSIONS} HTTP sessions (${PARALLEL} at a time: connect, one whoami, DELETE, close); ` +
        `heap before ${mb(before.heapUsed)}, after rounds ${after.map((h) => mb(h.heapUsed)).join(' / ')}; rounds took ${times.map((t) => `${sig(t / 1000, 3)} s`).join(' / ')}; ` +
        `growth round 1 -> ${ROUNDS}: ${sig((last.heapUsed - first.heapUsed) / ((ROUNDS - 1) * SESSIONS), 3)} bytes per session, by space: ${spaceGrowth(first, last)}; ` +
        `maps after each round ${zero ? 'all zero' : 'NOT ZERO'} (last: ${mapsOf(last)})`,
      zero,
    );
  } finally {
    child.disconnect();
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
    });
    children.delete(child);
  }
}

async function getOrCreate(): Promise<void> {
  const N = 1000;
  const REPS = 15;
  const SINGLES = 300;
  // No shared store configured: local-only (MemoryStore), as the registry is what this figure is about.
  const coordinator = new Coordinator({ logger: silentLogger, allowedRoots: [newWorkspace()] });
  await coordinator.start();
  try {
    const single = async (): Promise<number> => {
      const t0 = performance.now();
      const s = await coordinator.openSession({ transport: 'none' });
      const t = performance.now() - t0;
      coordinator.sessions.close(s.id, 'bench');
      return t;
    };
    const burst = async (): Promise<{ ms: number; distinct: number }> => {
      const t0 = performance.now();
      const all = await Promise.all(Array.from({ length: N }, () => coordinator.openSession({ transport: 'none' }, 'same-id')));
      const t = performance.now() - t0;
      const distinct = new Set<Session>(all).size;
      coordinator.sessions.close('same-id', 'bench');
      return { ms: t, distinct };
    };
    for (let i = 0; i < 3; i++) await burst();
    for (let i = 0; i < 50; i++) await single();
    const bursts: number[] = [];
    const singles: number[] = [];
    let distinct = 1;
    for (let r = 0; r < REPS; r++) {
      const b = await burst();
      bursts.push(b.ms);
      distinct = Math.max(distinct, b.distinct);
      for (let i = 0; i < SINGLES / REPS; i++) singles.push(await single());
    }
    const clean = coordinator.sessions.size === 0 && coordinator.sessions.lockCount === 0;
    report(
      'get-or-create-1000',
      median(bursts),
      median(singles),
      'ms',
      undefined,
      `in-process: ${N} concurrent openSession({transport:'none'}, 'same-id') resolved in p50 ${ms(median(bursts))} (p90 ${ms(quantile(bursts, 0.9))}, ${REPS} reps, session closed between reps); ` +
        `baseline = one openSession of a fresh random id, p50 of ${singles.length}; every burst returned ${distinct === 1 ? 'one single Session object' : `${distinct} DIFFERENT Session objects`}; ` +
        `registry and lock map ${clean ? 'empty' : 'NOT empty'} afterwards`,
      undefined,
    );
    if (distinct !== 1 || !clean) figures[figures.length - 1]!.ok = false;
  } finally {
    await coordinator.dispose();
  }
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const want = (name: string): boolean => only.size === 0 || only.has(name);
  const started = performance.now();
  console.error(`bench: ${MACHINE}`);
  if (['mcp-http-call', 'mcp-http-concurrent', 'session-open'].some(want)) {
    const servers = await startHttpServers();
    try {
      if (want('mcp-http-call')) await httpCall(servers);
      if (want('mcp-http-concurrent')) await httpConcurrent(servers);
      if (want('session-open')) await sessionOpen(servers);
    } finally {
      await stopServers(servers);
    }
  }
  if (want('mcp-stdio-call')) await stdioCall();
  if (want('session-leak')) await sessionLeak();
  if (want('get-or-create-1000')) await getOrCreate();
  const written = writeFigures(REPO);
  console.error(
    `bench: ${figures.length} figures in ${sig((performance.now() - started) / 1000, 3)} s; wrote ${path.relative(process.cwd(), written)}`,
  );
}

function cleanup(): void {
  for (const c of children) c.kill('SIGTERM');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}

main().then(
  () => {
    cleanup();
    process.exit(0);
  },
  (e: unknown) => {
    console.error(`bench crashed: ${e instanceof Error ? e.stack : String(e)}`);
    cleanup();
    process.exit(1);
  },
);
