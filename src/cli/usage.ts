import * as path from 'node:path';

export const USAGE = `Usage: session-coordinator <command> [options]

Commands:
  serve [--workspace DIR] [--stdio] [--http] [--port N] [--store URL]
        Serve MCP for the workspace (default: the current folder). With --http
        (the default when neither is given) it listens on 127.0.0.1 and prints
        its URL on stderr; with --stdio it speaks MCP on stdin/stdout.
        Repeat --workspace for a multi-root workspace: a session rooted in a
        later folder claims in that folder's project.
        The HTTP token is SESSION_COORDINATOR_TOKEN, else the install's token file.
  connect [--workspace DIR] [--store URL]
        MCP on stdin/stdout for agents that only speak stdio: relays to a live
        window or server of the workspace, or serves in-process when none is live.
  status [--workspace DIR] [--json]
        Sessions, health and metrics of the live participants of a workspace.
  message <to> <text...> [--workspace DIR] [--subject S] [--thread T] [--store URL]
        Tells an agent something, as a person: <to> is an agent (kind:id, e.g.
        claude-code:<id>), a session id, people, or all. Hooked agents
        see it on their next tool call; others in their inbox (message_inbox).
  setup <claude-code|vscode|cursor|cline|gemini|codex> [--workspace DIR] [--dry-run] [--global]
        Sets an agent up for the workspace: merges our MCP server and the edit
        guard's hook into the client's own files, keeping everything else.
        Files outside the project (Cline, Codex) are written only with --global.
  config <claude-code|cline|cursor|vscode|gemini|codex> [--workspace DIR]
        Ready-to-paste MCP configuration for a client, alone on stdout.
  hook <claude-code|vscode|gemini|cursor|cline|copilot> [--workspace DIR] [--strict]
        The edit guard, run by an agent's own hook before each edit: exit 0
        allows, 2 denies (with the holder); 1 means the hook is misconfigured.

Options:
  --workspace DIR    (serve, connect, status, message, setup, config, hook) the project folder; default the
                     current folder (hook: the agent's own working folder)
  --json             (status) the snapshot as JSON on stdout
  --strict           (hook) deny an edit the guard could not check (default: allow it and say so);
                     so does "sessionCoordinator.guard.strict": true in the project's .vscode/settings.json
  --log-level trace|debug|info|warn|error   (serve; default info, on stderr)
  --max-sessions N   (serve; live sessions, default 200)
  --max-pending N    (serve; pending requests per session, default 1000)
  --disconnect-grace S  (serve; seconds a session whose client dropped its stream is kept
                     for it to come back, default 10)
  --across-worktrees warn|refuse|off  (serve; the same file claimed in another git worktree of
                     the repository: granted with a warning naming the holder (default), refused, or ignored)
  --max-namespaces N, --max-namespace-mib N, --max-store-mib N
                     (serve; the store's quotas, default 256 namespaces, 16 MiB per namespace,
                     256 MiB in all; a write past one is refused with QuotaExceeded)
  --store URL        (serve, connect, message) share context through Redis: redis://[:password@]host:port/db
                     or rediss://...; default SESSION_COORDINATOR_STORE, else files in the workspace.
                     The project id comes from SESSION_COORDINATOR_PROJECT_ID, else the git origin.
  --home DIR         (connect, hook, status, message, serve, setup, config) the install folder, where the token
                     and the live participants' discovery files are: default SESSION_COORDINATOR_HOME, else
                     $XDG_STATE_HOME/session-coordinator (~/.local/state/...). When one is named (this
                     option or the variable), setup and config pass it on to the agent's connect and hook.
  -h, --help      Show this help
  --version       Show the version

Exit codes: 0 success, 1 failure, 2 bad usage, 3 no live participant (status).
`;

/** USAGE's entries under `heading`: each a line at two spaces' indent with the deeper lines after it. */
function entries(heading: string): string[] {
  const start = USAGE.indexOf(`\n${heading}:\n`) + heading.length + 3;
  const out: string[] = [];
  for (const line of USAGE.slice(start).split('\n')) {
    if (line === '') break;
    if (/^ {2}\S/.test(line)) out.push(line);
    else if (out.length > 0) out[out.length - 1] += `\n${line}`;
  }
  return out;
}

/** `<command> --help`: that command's entry of USAGE and the options that name it; undefined for a command it does not list. */
export function commandUsage(command: string): string | undefined {
  const entry = entries('Commands').find((e) => e.startsWith(`  ${command} `) || e === `  ${command}`);
  if (!entry) return undefined;
  const names = (e: string): boolean => new RegExp(`\\((?:[\\w-]+, )*${command}[,;)]`).test(e) || /^ {2}-h, --help/.test(e);
  const options = entries('Options').filter(names);
  // The hook's exit codes are its own (2 denies the edit), and its entry says them.
  const exit = command === 'hook' ? '' : `\n\n${USAGE.slice(USAGE.indexOf('Exit codes:')).trimEnd()}`;
  const [synopsis, ...about] = entry.split('\n');
  const text = about.map((line) => `  ${line.trim()}`).join('\n');
  return `Usage: session-coordinator ${synopsis!.trim()}\n\n${text}\n\nOptions:\n${options.join('\n')}${exit}\n`;
}

/** `--home DIR`: the install folder for everything this run reads or writes there, as SESSION_COORDINATOR_HOME would. */
export function useHomeOption(home: string | undefined): void {
  if (home !== undefined) process.env.SESSION_COORDINATOR_HOME = path.resolve(home);
}

/** node:util parseArgs's complaint in a line of ours (its own text for an unknown option is long and mis-quoted). */
export function parseArgsMessage(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  const unknown = /^Unknown option '([^']+)'/.exec(text);
  return unknown ? `unknown option ${unknown[1]}` : text;
}

/** Wrong flags or arguments: print usage, exit 2 (R-CLI-4). */
export class UsageError extends Error {}

export const EXIT = { ok: 0, failure: 1, usage: 2, noParticipant: 3 } as const;
