import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';
import { tempDir } from './workspace.js';

/** What every test Redis server offers. */
export interface RedisProcess {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  readonly pid: number | undefined;
  /** SIGTERM, waits for the exit. */
  stop(): Promise<void>;
  /** Stops it if running and removes its folder. */
  remove(): Promise<void>;
}

/**
 * A real `redis-server` (Debian's package) for the tests: 127.0.0.1, a free
 * port, its own temp folder, AOF with `appendfsync always` (an acknowledged
 * write survives a SIGKILL of the server), stopped by its pid.
 */
export interface RedisServer extends RedisProcess {
  /** SIGKILL: a crash, as far as Redis can tell. */
  kill(): Promise<void>;
  /** Starts again on the same port and folder (replays the AOF) and waits until it answers. */
  restart(): Promise<void>;
}

export const REDIS_SERVER = process.env.REDIS_SERVER_BIN ?? 'redis-server';

/** Fails with a message saying what to install, rather than skipping: both backends run the same suite. */
export function assertRedisServerInstalled(): void {
  const r = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(
      `${REDIS_SERVER} is not installed (${r.error?.message ?? r.stderr}); the project's setup installs the Debian package redis-server (apt-get install -y redis-server)`,
    );
  }
}

/**
 * Waits until the server answers PING with its data loaded (ioredis' ready check waits for LOADING to end);
 * with `ca`, over TLS verified against it.
 */
export async function waitForPing(port: number, timeoutMs: number, exited: () => string | undefined, ca?: Buffer): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const gone = exited();
    if (gone) throw new Error(`redis-server exited before answering: ${gone}`);
    const client = new Redis({
      host: '127.0.0.1',
      port,
      ...(ca ? { tls: { ca } } : {}),
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      connectTimeout: 500,
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      if ((await client.ping()) === 'PONG') return;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    } finally {
      client.disconnect();
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms: ${last}`);
}

/** Runs redis-server with `args`, keeping its output for the message of a failed start. */
export function spawnRedisServer(args: string[]): { child: ChildProcess; exited: () => string | undefined } {
  const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  let exit: string | undefined;
  child.once('exit', (code, signal) => (exit = `code ${code} signal ${signal}: ${output.slice(-2000)}`));
  return { child, exited: () => exit };
}

export async function startRedisServer(): Promise<RedisServer> {
  assertRedisServerInstalled();
  const folder = tempDir('sc-redis-');
  const port = await freePort();
  let child: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--dir',
      folder.path,
      '--daemonize',
      'no',
      '--loglevel',
      'warning',
    ];
    const launched = spawnRedisServer(args);
    child = launched.child;
    await waitForPing(port, 10_000, launched.exited);
  };

  const stopWith = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill(signal);
    });
  };

  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    dir: folder.path,
    get pid() {
      return child?.pid;
    },
    stop: () => stopWith('SIGTERM'),
    kill: () => stopWith('SIGKILL'),
    restart: async () => {
      await stopWith('SIGTERM');
      await launch();
    },
    remove: async () => {
      await stopWith('SIGTERM');
      await folder.remove();
    },
  };
}
