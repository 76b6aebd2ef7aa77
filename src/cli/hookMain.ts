import { parseArgs } from 'node:util';
import { hook, HOOK_EXIT } from './commands/hook.js';
import { commandUsage, parseArgsMessage, useHomeOption } from './usage.js';

/** `session-coordinator hook <client> [--workspace DIR] [--strict]`, bundled on its own for speed. */
async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: process.argv.slice(3),
      allowPositionals: true,
      strict: true,
      options: {
        workspace: { type: 'string' },
        strict: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        home: { type: 'string' },
      },
    });
  } catch (e) {
    // Exit 1, not 2: to Claude Code and Gemini CLI a 2 means "deny", and a typo in a hook must not block every edit.
    process.stderr.write(`session-coordinator hook: ${parseArgsMessage(e)}; the edit was not checked\n`);
    return HOOK_EXIT.misconfigured;
  }
  const { values, positionals } = parsed;
  // Where the live participants are found (setup writes --home when the install is not the default one).
  useHomeOption(values.home);
  // A person asking, not an agent's hook: no agent passes --help.
  if (values.help) {
    process.stdout.write(commandUsage('hook') ?? '');
    return HOOK_EXIT.allow;
  }
  const result = await hook(
    positionals[0],
    { strict: values.strict, ...(values.workspace ? { workspace: values.workspace } : {}) },
    { stdin: process.stdin, env: process.env },
  );
  if (result.stdout) process.stdout.write(result.stdout);
  if (result.stderr) process.stderr.write(result.stderr);
  return result.exitCode;
}

main().then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    process.stderr.write(`session-coordinator hook: ${e instanceof Error ? e.message : String(e)}; the edit was not checked\n`);
    process.exitCode = HOOK_EXIT.misconfigured;
  },
);
