// The ceiling of the one-writer design issue 11 proposes, measured rather than
// argued: a bare prototype, not our store. One leader process owns one log
// (lines like ours: crc32 + JSON with the writer); the others send it their
// writes over a Unix socket; it appends what has come in, fdatasyncs once per
// batch (group commit) and acknowledges the batch. No rules, no cross-process
// lock, no failover, no read-back: whatever our store would add costs more.
// `lease`: store.update(fn) as a follower must do it when fn cannot be sent
// (ask for the key, get its value, send the new one: two round trips, one
// writer of a key at a time); `incr`: one message, the leader adds.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';

export interface CeilingJob {
  mode: 'ceiling';
  root: string;
  role: 'leader' | 'follower';
  op: 'lease' | 'incr';
  key: string;
  count: number;
  /** The leader's: how many followers it serves (its CPU is counted until the last of them is gone). */
  followers: number;
}

export interface CeilingRun {
  /** Resolves when the parent says go. */
  ready(): Promise<void>;
  done(result: { startedAt: number; endedAt: number; latencies: number[]; cpuMs: number }): Promise<void>;
}

interface Entry {
  value: number;
  version: number;
}
type Update = (key: string) => Promise<unknown>;

const WARMUP = 1000;
const now = (): number => performance.timeOrigin + performance.now();
const socketOf = (root: string): string => path.join(root, 'leader.sock');
const logOf = (root: string): string => path.join(root, 'leader.log');
const line = (v: unknown): string => {
  const json = JSON.stringify(v);
  return `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`;
};

export async function runCeiling(job: CeilingJob, run: CeilingRun): Promise<void> {
  const by = { sessionId: `bench-${process.pid}`, clientName: 'store-bench', participantId: `p-${process.pid}` };
  let served = Promise.resolve();
  let update: Update;
  if (job.role === 'leader') ({ update, served } = await lead(job.root, job.op, by, job.followers));
  else update = await follow(job.root, job.op, by);
  for (let i = 0; i < WARMUP; i++) await update(`${job.key}-warmup-${process.pid}`);
  await run.ready();
  const latencies: number[] = [];
  const cpu0 = process.cpuUsage();
  const startedAt = now();
  for (let i = 0; i < job.count; i++) {
    const t = performance.now();
    await update(job.key);
    latencies.push(performance.now() - t);
  }
  const endedAt = now();
  // The leader's work for the others counts too: until they are done.
  await served;
  const cpu = process.cpuUsage(cpu0);
  await run.done({ startedAt, endedAt, latencies, cpuMs: (cpu.user + cpu.system) / 1000 });
}

async function lead(root: string, op: CeilingJob['op'], by: object, followers: number): Promise<{ update: Update; served: Promise<void> }> {
  let gone = 0;
  let allGone = (): void => undefined;
  const served = new Promise<void>((resolve) => (allGone = resolve));
  const fd = fs.openSync(logOf(root), 'a');
  const state = new Map<string, Entry>();
  const leased = new Set<string>();
  const queued = new Map<string, Array<(e: Entry | undefined) => void>>();
  let batch: Array<{ text: string; ack: () => void }> = [];
  let syncing = false;
  const lease = (key: string, grant: (e: Entry | undefined) => void): void => {
    if (!leased.has(key)) {
      leased.add(key);
      return grant(state.get(key));
    }
    const q = queued.get(key) ?? [];
    queued.set(key, q);
    q.push(grant);
  };
  const unlease = (key: string): void => {
    const next = queued.get(key)?.shift();
    if (next) next(state.get(key));
    else leased.delete(key);
  };
  const flush = (): void => {
    if (syncing || batch.length === 0) return;
    syncing = true;
    const out = batch;
    batch = [];
    fs.writeSync(fd, out.map((b) => b.text).join(''));
    fs.fdatasync(fd, (e) => {
      if (e) throw e;
      for (const b of out) b.ack();
      syncing = false;
      flush();
    });
  };
  /** Applies and queues for the next fdatasync; the next writer of the key may build on it at once, as ours does. */
  const put = (key: string, value: number, who: object, ack: (version: number) => void): void => {
    const version = (state.get(key)?.version ?? 0) + 1;
    state.set(key, { value, version });
    batch.push({ text: line({ op: 'set', k: key, v: value, pv: version - 1, at: Date.now(), by: who }), ack: () => ack(version) });
    flush();
  };
  const server = net.createServer((c) => {
    c.setNoDelay(true);
    c.on('close', () => {
      if (++gone === followers) allGone();
    });
    let buffered = '';
    const reply = (m: object): boolean => c.write(JSON.stringify(m) + '\n');
    c.on('data', (d) => {
      buffered += d.toString();
      for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
        const m = JSON.parse(buffered.slice(0, i)) as { id: number; op: string; k: string; v?: number; by: object };
        buffered = buffered.slice(i + 1);
        if (m.op === 'lease') lease(m.k, (e) => reply({ id: m.id, e }));
        else if (m.op === 'put') {
          put(m.k, m.v!, m.by, (version) => reply({ id: m.id, version }));
          unlease(m.k);
        } else if (m.op === 'incr') put(m.k, (state.get(m.k)?.value ?? 0) + 1, m.by, (version) => reply({ id: m.id, version }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(socketOf(root), resolve));
  if (op === 'incr') return { served, update: (key) => new Promise((resolve) => put(key, (state.get(key)?.value ?? 0) + 1, by, resolve)) };
  const update: Update = (key) =>
    new Promise((resolve) =>
      lease(key, (e) => {
        put(key, (e?.value ?? 0) + 1, by, resolve);
        unlease(key);
      }),
    );
  return { served, update };
}

async function follow(root: string, op: CeilingJob['op'], by: object): Promise<Update> {
  const deadline = Date.now() + 30_000;
  while (!fs.existsSync(socketOf(root))) {
    if (Date.now() > deadline) throw new Error('the leader never listened');
    await new Promise((r) => setTimeout(r, 5));
  }
  const c = net.connect(socketOf(root));
  c.setNoDelay(true);
  await new Promise((resolve, reject) => c.once('connect', resolve).once('error', reject));
  const out = new Map<number, (m: { e?: Entry; version?: number }) => void>();
  let lastId = 0;
  let buffered = '';
  c.on('data', (d) => {
    buffered += d.toString();
    for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
      const m = JSON.parse(buffered.slice(0, i)) as { id: number; e?: Entry; version?: number };
      buffered = buffered.slice(i + 1);
      out.get(m.id)?.(m);
      out.delete(m.id);
    }
  });
  const call = (m: object): Promise<{ e?: Entry; version?: number }> =>
    new Promise((resolve) => {
      const id = ++lastId;
      out.set(id, resolve);
      c.write(JSON.stringify({ ...m, id, by }) + '\n');
    });
  const update: Update =
    op === 'incr'
      ? (key) => call({ op: 'incr', k: key })
      : async (key) => {
          const { e } = await call({ op: 'lease', k: key });
          return call({ op: 'put', k: key, v: (e?.value ?? 0) + 1 });
        };
  return update;
}

/** The key's value in the leader's log, as durable (the last line that names it). */
export function ceilingCounter(root: string, key: string): number {
  let value = 0;
  for (const text of fs.readFileSync(logOf(root), 'utf8').split('\n')) {
    const json = text.slice(9);
    if (!json) continue;
    const r = JSON.parse(json) as { k: string; v: number };
    if (r.k === key) value = r.v;
  }
  return value;
}
