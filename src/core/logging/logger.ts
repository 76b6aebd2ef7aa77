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

/** Writes to a stream (stderr for the CLI: with --stdio, stdout belongs to MCP alone). */
export class StreamLogger implements Logger {
  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly level: LogLevel = 'info',
  ) {}

  private write(level: LogLevel, message: string | Error, args: unknown[]): void {
    if (ORDER[level] < ORDER[this.level]) return;
    const text = message instanceof Error ? message.message : message;
    this.out.write(`${new Date().toISOString()} [${level}] ${text}${format(args)}\n`);
  }

  trace(m: string, ...a: unknown[]): void { this.write('trace', m, a); }
  debug(m: string, ...a: unknown[]): void { this.write('debug', m, a); }
  info(m: string, ...a: unknown[]): void { this.write('info', m, a); }
  warn(m: string, ...a: unknown[]): void { this.write('warn', m, a); }
  error(m: string | Error, ...a: unknown[]): void { this.write('error', m, a); }
}

export const silentLogger: Logger = {
  trace() {}, debug() {}, info() {}, warn() {}, error() {},
};
