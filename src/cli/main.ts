import { parseArgs } from 'node:util';
import { StreamLogger, type LogLevel } from '../core/logging/logger.js';
import { SERVER_VERSION } from '../core/mcp/mcpServerFactory.js';
import { ACROSS_WORKTREES, type AcrossWorktrees } from '../core/store/actors.js';
import { selectStoreUrl, STORE_ENV } from '../core/store/storeEnv.js';
import type { StoreQuotas } from '../core/store/rules/limits.js';
import { config } from './commands/config.js';
import { connect } from './commands/connect.js';
import { message } from './commands/message.js';
import { serve } from './commands/serve.js';
import { setup } from './commands/setup.js';
import { status } from './commands/status.js';
import { commandUsage, EXIT, parseArgsMessage, USAGE, UsageError, useHomeOption } from './usage.js';

const LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error'];

// Digits only: Number('') is 0 and Number('1e3') is 1000, neither of which a person meant.
function parsePort(value: string | undefined): number {
  if (value === undefined) return 0;
  const port = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(port >= 0 && port <= 65535)) throw new UsageError(`--port must be a whole number from 0 to 65535, not ${JSON.stringify(value)}`);
  return port;
}

/** --max-namespaces, --max-namespace-mib, --max-store-mib: the store's quotas, each optional. */
function quotaOptions(values: { 'max-namespaces'?: string; 'max-namespace-mib'?: string; 'max-store-mib'?: string }): Partial<StoreQuotas> {
  const mib = (flag: string, v: string | undefined): number | undefined => {
    const n = parsePositive(flag, v);
    return n === undefined ? undefined : n * 1024 * 1024;
  };
  const namespaces = parsePositive('max-namespaces', values['max-namespaces']);
  const namespaceBytes = mib('max-namespace-mib', values['max-namespace-mib']);
  const storeBytes = mib('max-store-mib', values['max-store-mib']);
  return {
    ...(namespaces !== undefined ? { maxNamespaces: namespaces } : {}),
    ...(namespaceBytes !== undefined ? { maxNamespaceBytes: namespaceBytes } : {}),
    ...(storeBytes !== undefined ? { maxStoreBytes: storeBytes } : {}),
  };
}

function parsePositive(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d{1,9}$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1)) throw new UsageError(`--${name} must be a whole number of at least 1, not ${JSON.stringify(value)}`);
  return n;
}

function parseSeconds(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d{1,6}(\.\d{1,3})?$/.test(value) ? Number(value) : NaN;
  if (!(n >= 0)) throw new UsageError(`--${name} must be a number of seconds, 0 or more, not ${JSON.stringify(value)}`);
  return n;
}

function acrossWorktreesOption(value: string | undefined): { acrossWorktrees?: AcrossWorktrees } {
  if (value === undefined) return {};
  const mode = ACROSS_WORKTREES.find((m) => m === value);
  if (!mode) throw new UsageError(`--across-worktrees must be one of ${ACROSS_WORKTREES.join(', ')}, not ${JSON.stringify(value)}`);
  return { acrossWorktrees: mode };
}

/** `--store`, else SESSION_COORDINATOR_STORE; neither: files in the workspace. */
function storeOption(flag: string | undefined): { store?: string } {
  const store = selectStoreUrl(flag, process.env[STORE_ENV]);
  if (store !== undefined && !/^rediss?:\/\//.test(store))
    throw new UsageError(
      `--store takes redis://host:port/db or rediss://host:port/db, not ${JSON.stringify(store.replace(/\/\/[^@]*@/, '//***@'))}`,
    );
  return store === undefined ? {} : { store };
}

async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    process.stderr.write(USAGE);
    return EXIT.usage;
  }
  if (command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(USAGE);
    return EXIT.ok;
  }
  if (command === '--version') {
    process.stdout.write(`${SERVER_VERSION}\n`);
    return EXIT.ok;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: {
        // Repeated for serve: the folders of a multi-root workspace, the first one's project first.
        workspace: { type: 'string', multiple: true },
        stdio: { type: 'boolean', default: false },
        http: { type: 'boolean', default: false },
        port: { type: 'string' },
        json: { type: 'boolean', default: false },
        'log-level': { type: 'string' },
        'max-sessions': { type: 'string' },
        'max-pending': { type: 'string' },
        'disconnect-grace': { type: 'string' },
        'max-namespaces': { type: 'string' },
        'max-namespace-mib': { type: 'string' },
        'max-store-mib': { type: 'string' },
        store: { type: 'string' },
        subject: { type: 'string' },
        'across-worktrees': { type: 'string' },
        thread: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        global: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        home: { type: 'string' },
      },
    });
  } catch (e) {
    throw new UsageError(parseArgsMessage(e));
  }
  const { values, positionals } = parsed;
  useHomeOption(values.home);
  if (values.help) {
    process.stdout.write(commandUsage(command) ?? USAGE);
    return EXIT.ok;
  }
  const workspaces = values.workspace ?? [process.cwd()];
  if (command !== 'serve' && workspaces.length > 1) throw new UsageError(`only serve takes more than one --workspace`);
  const workspace = workspaces[0]!;
  switch (command) {
    case 'serve': {
      if (positionals.length > 0) throw new UsageError(`serve takes no arguments, got ${positionals.join(' ')}`);
      const level = (values['log-level'] ?? 'info') as LogLevel;
      if (!LEVELS.includes(level)) throw new UsageError(`--log-level must be one of ${LEVELS.join(', ')}`);
      const neither = !values.stdio && !values.http;
      return serve(
        {
          workspace,
          otherFolders: workspaces.slice(1),
          stdio: values.stdio,
          http: values.http || neither,
          port: parsePort(values.port),
          maxSessions: parsePositive('max-sessions', values['max-sessions']),
          maxPending: parsePositive('max-pending', values['max-pending']),
          disconnectGraceSeconds: parseSeconds('disconnect-grace', values['disconnect-grace']),
          quotas: quotaOptions(values),
          ...storeOption(values.store),
          ...acrossWorktreesOption(values['across-worktrees']),
        },
        new StreamLogger(process.stderr, level),
      );
    }
    case 'connect': {
      if (positionals.length > 0) throw new UsageError(`connect takes no arguments, got ${positionals.join(' ')}`);
      const level = (values['log-level'] ?? 'warn') as LogLevel;
      if (!LEVELS.includes(level)) throw new UsageError(`--log-level must be one of ${LEVELS.join(', ')}`);
      return connect({ workspace, ...storeOption(values.store) }, new StreamLogger(process.stderr, level));
    }
    case 'status':
      return status({ workspace, json: values.json });
    case 'message':
      return message(positionals[0], positionals.slice(1), {
        workspace,
        ...storeOption(values.store),
        ...(values.subject !== undefined ? { subject: values.subject } : {}),
        ...(values.thread !== undefined ? { thread: values.thread } : {}),
      });
    case 'config':
      return config(positionals[0], { workspace });
    case 'setup':
      if (positionals.length > 1) throw new UsageError(`setup takes one client, got ${positionals.join(' ')}`);
      return setup(positionals[0], { workspace, dryRun: values['dry-run'], global: values.global });
    default:
      throw new UsageError(`Unknown command: ${command}`);
  }
}

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof UsageError) {
      // The command's own usage when there is one: the whole list buries the line that matters.
      const own = commandUsage(process.argv[2] ?? '');
      process.stderr.write(`session-coordinator: ${e.message}\n\n${own ? `${own}\nEvery command: session-coordinator --help\n` : USAGE}`);
      process.exitCode = EXIT.usage;
      return;
    }
    process.stderr.write(`session-coordinator: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = EXIT.failure;
  },
);
