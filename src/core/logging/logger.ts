import { printable } from './printable.js';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

const ORDER: Record<LogLevel, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 };

/** The shape of VS Code's LogOutputChannel methods, so the host can pass one in directly. */
export interface Logger {
  trace(message: string, ...args: unknown[]): void;
  debug(message: string, ...args: unknown[]): void;
  info(message: string, ...args: unknown[]): void;
  warn(message: string, ...args: unknown[]): void;
  error(message: string | Error, ...args: unknown[]): void;
}

function format(args: unknown[]): string {
  return args.length === 0 ? '' : ' ' + args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ');
}

/** One line per call, whatever an agent put in the message (R-SEC-6). */
function line(message: string | Error, args: unknown[]): string {
  return printable(`${message instanceof Error ? message.message : message}${format(args)}`);
}

/** Writes to a stream (stderr for the CLI: with --stdio, stdout belongs to MCP alone). */
export class StreamLogger implements Logger {
  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly level: LogLevel = 'info',
  ) {}

  private write(level: LogLevel, message: string | Error, args: unknown[]): void {
    if (ORDER[level] < ORDER[this.level]) return;
    this.out.write(`${new Date().toISOString()} [${level}] ${line(message, args)}\n`);
  }

  trace(m: string, ...a: unknown[]): void {
    this.write('trace', m, a);
  }
  debug(m: string, ...a: unknown[]): void {
    this.write('debug', m, a);
  }
  info(m: string, ...a: unknown[]): void {
    this.write('info', m, a);
  }
  warn(m: string, ...a: unknown[]): void {
    this.write('warn', m, a);
  }
  error(m: string | Error, ...a: unknown[]): void {
    this.write('error', m, a);
  }
}

/** Another logger (VS Code's log channel) with the same one-line-per-call rule. */
export function escapingLogger(inner: Logger): Logger {
  return {
    trace: (m, ...a) => inner.trace(line(m, a)),
    debug: (m, ...a) => inner.debug(line(m, a)),
    info: (m, ...a) => inner.info(line(m, a)),
    warn: (m, ...a) => inner.warn(line(m, a)),
    error: (m, ...a) => inner.error(line(m, a)),
  };
}

export const silentLogger: Logger = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
};
