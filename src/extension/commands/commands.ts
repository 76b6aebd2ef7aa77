import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { describeAgent } from '../../core/agents/agentIdentity.js';
import { applySetup } from '../../core/agents/applySetup.js';
import { connectArgs, SETUP_CLIENTS, setupPlan, type SetupClient } from '../../core/agents/clientSetup.js';
import { CLIENTS, clientConfig, type ClientName } from '../../core/clientConfig.js';
import { namedInstallDir } from '../../core/install/installState.js';
import { ALL, personActor } from '../../core/messages/messageRules.js';
import type { Settings } from '../config/settings.js';
import { COMMANDS } from './commandIds.js';
import { savedPassword, serverOf, STORE_PASSWORD_SECRET } from '../config/storePassword.js';
import type { CoordinatorRun } from '../run/coordinatorRun.js';
import { HEALTH_VIEW_ID } from '../views/healthViewProvider.js';

export interface CommandDeps {
  run(): CoordinatorRun | undefined;
  restart(): Promise<void>;
  showLog(): void;
  extensionPath: string;
  secrets: vscode.SecretStorage;
  settings: Settings;
}

const CLIENT_LABELS: Record<ClientName, string> = {
  'claude-code': 'Claude Code (.mcp.json)',
  cline: 'Cline (cline_mcp_settings.json)',
  cursor: 'Cursor (.cursor/mcp.json)',
  vscode: 'VS Code (.vscode/mcp.json), for other windows or clients',
  gemini: 'Gemini CLI (.gemini/settings.json)',
  codex: 'Codex (~/.codex/config.toml)',
};

const SETUP_LABELS: Record<SetupClient, string> = {
  'claude-code': 'Claude Code: .mcp.json, and the edit guard in .claude/settings.local.json',
  vscode: 'VS Code agent mode: .vscode/mcp.json, and the edit guard in .github/hooks',
  cursor: 'Cursor: .cursor/mcp.json and .cursor/hooks.json',
  cline: 'Cline: the edit guard in .clinerules/hooks (its MCP settings are global: use the CLI with --global)',
  gemini: 'Gemini CLI: .gemini/settings.json, with the edit guard',
  codex: 'Codex: shows the entry for ~/.codex/config.toml (use the CLI with --global to write it)',
};

/** The node that runs our CLI for an agent: VS Code desktop's own binary is Electron, not node. */
function nodeCommand(): string {
  return process.versions.electron ? 'node' : process.execPath;
}

/**
 * A command that needs a running coordinator: it gets the run as its first
 * argument, and with none running it says so instead of running
 * (rust-analyzer's CommandFactory).
 */
function onRun<A extends unknown[], R>(
  deps: CommandDeps,
  id: string,
  handler: (run: CoordinatorRun, ...args: A) => Promise<R>,
): vscode.Disposable {
  return vscode.commands.registerCommand(id, (...args: A) => {
    const run = deps.run();
    if (!run) throw new Error('The coordinator is not running; run "Session Coordinator: Restart Coordinator" and check the log');
    return handler(run, ...args);
  });
}

/** Everything a person does, as palette commands (R-EXT-6). Each returns what it did, for tests and scripts. */
export function registerCommands(deps: CommandDeps): vscode.Disposable[] {
  const workspace = (): string => vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? process.cwd();
  return [
    vscode.commands.registerCommand(COMMANDS.showPanel, () => vscode.commands.executeCommand(`${HEALTH_VIEW_ID}.focus`)),
    vscode.commands.registerCommand(COMMANDS.showLog, () => deps.showLog()),
    vscode.commands.registerCommand(COMMANDS.restart, async () => {
      await deps.restart();
      void vscode.window.showInformationMessage('Session Coordinator restarted.');
    }),
    vscode.commands.registerCommand(COMMANDS.copyClientConfig, async (client?: ClientName) => {
      const picked =
        client ??
        (
          await vscode.window.showQuickPick(
            CLIENTS.map((c) => ({ label: CLIENT_LABELS[c], client: c })),
            { title: 'Copy MCP config for…', placeHolder: 'The config runs `session-coordinator connect`, which finds this window' },
          )
        )?.client;
      if (!picked) return undefined;
      const cli = path.join(deps.extensionPath, 'dist', 'cli.js');
      const { file, json, toml } = clientConfig(picked, {
        command: nodeCommand(),
        args: [cli, ...connectArgs({ workspace: workspace(), installHome: namedInstallDir() })],
      });
      const text = toml ?? JSON.stringify(json, null, 2);
      await vscode.env.clipboard.writeText(text);
      void vscode.window.showInformationMessage(`MCP config for ${CLIENT_LABELS[picked]} copied: paste it into ${file}.`);
      return text;
    }),
    vscode.commands.registerCommand(COMMANDS.setupAgent, async (client?: SetupClient) => {
      const folder = vscode.workspace.workspaceFolders?.[0];
      if (!folder) {
        void vscode.window.showWarningMessage('Open a folder first: agents are set up per project.');
        return undefined;
      }
      const picked =
        client ??
        (
          await vscode.window.showQuickPick(
            SETUP_CLIENTS.map((c) => ({ label: SETUP_LABELS[c], client: c })),
            {
              title: 'Set up which agent?',
              placeHolder: 'Writes its MCP entry and the edit guard into this project, keeping your own settings',
            },
          )
        )?.client;
      if (!picked) return undefined;
      const plan = setupPlan(picked, {
        workspace: folder.uri.fsPath,
        node: nodeCommand(),
        cli: path.join(deps.extensionPath, 'dist', 'cli.js'),
        home: os.homedir(),
        global: false,
        installHome: namedInstallDir(),
      });
      try {
        const results = await applySetup(plan, { dryRun: false, global: false });
        const done = results
          .filter((r) => r.action === 'created' || r.action === 'updated')
          .map((r) => path.relative(folder.uri.fsPath, r.file));
        const summary = done.length ? `wrote ${done.join(', ')}` : 'everything was already set up';
        void vscode.window.showInformationMessage(
          `${SETUP_LABELS[picked].split(':')[0]}: ${summary}.${plan.notes.length ? ` ${plan.notes.join(' ')}` : ''}`,
        );
        return results;
      } catch (e) {
        // A broken settings file is the person's to fix: say which, and change nothing.
        void vscode.window.showErrorMessage(e instanceof Error ? e.message : String(e));
        return undefined;
      }
    }),
    onRun(deps, COMMANDS.endSession, async (run, sessionId?: string) => {
      let id = sessionId;
      if (!id) {
        const state = await run.panelState(false);
        id = (
          await vscode.window.showQuickPick(
            state.sessions.map((s) => ({ label: s.clientName, description: `${s.transport} · ${s.participant}`, detail: s.id, id: s.id })),
            { title: 'End which session?', placeHolder: state.sessions.length ? undefined : 'No live sessions' },
          )
        )?.id;
      }
      if (!id) return false;
      await run.coordinator.endSession(id, 'a person, from the command palette');
      return true;
    }),
    onRun(deps, COMMANDS.releaseClaim, async (run, resource?: string, fencingToken?: number, checkout?: string, project?: string) => {
      let target: { resource: string; fencingToken: number; checkout?: string; project?: string } | undefined =
        resource !== undefined && fencingToken !== undefined
          ? { resource, fencingToken, ...(checkout ? { checkout } : {}), ...(project ? { project } : {}) }
          : undefined;
      if (!target) {
        const claims = await run.coordinator.claimsEverywhere();
        target =
          (await vscode.window.showQuickPick(
            claims.map((c) => ({
              label: c.projectRoot ? `${path.basename(c.projectRoot)}: ${c.resource}` : c.resource,
              description: `${c.holder.clientName}${c.holder.worktree ? ` · ${c.holder.worktree}` : ''} · until ${new Date(c.expiresAt).toLocaleTimeString()}`,
              resource: c.resource,
              fencingToken: c.fencingToken,
              ...(c.checkout ? { checkout: c.checkout } : {}),
              ...(c.projectRoot ? { project: c.projectRoot } : {}),
            })),
            { title: 'Release which claim?' },
          )) ?? undefined;
      }
      if (!target) return false;
      // Another folder's claim lives in that folder's store; an unknown project names nothing to release.
      const store = target.project ? run.coordinator.scopes.find((s) => s.root === target.project)?.store : run.coordinator.store;
      if (!store) return false;
      await store.revokeClaim(
        target.resource,
        target.fencingToken,
        personActor('Session Health panel', store.participantId),
        target.checkout,
      );
      return true;
    }),
    onRun(deps, COMMANDS.sendMessage, async (run, to?: string, text?: string) => {
      let recipient = to;
      if (!recipient) {
        const addressees = [...(await run.coordinator.messages.addressees()).values()];
        recipient = (
          await vscode.window.showQuickPick(
            [
              { label: 'All agents', description: 'everyone live on this project', to: ALL },
              ...addressees.map((a) => ({
                label: a.actor.agent ? describeAgent(a.actor.agent) : a.actor.clientName,
                description: `${a.actor.clientName} · session ${a.actor.sessionId.slice(0, 8)}`,
                to: a.inbox,
              })),
            ],
            { title: 'Send a message to…', placeHolder: 'Agents with hooks see it on their next tool call; others in their inbox' },
          )
        )?.to;
      }
      if (!recipient) return undefined;
      const body =
        text ??
        (await vscode.window.showInputBox({
          title: `Message to ${recipient === ALL ? 'all agents' : recipient}`,
          prompt: 'Plain text, at most 4 KiB; the agent reads it as your message, with your name',
          ignoreFocusOut: true,
        }));
      if (!body) return undefined;
      try {
        const result = await run.coordinator.messages.send(
          personActor('a person, from VS Code', run.coordinator.store.participantId),
          recipient,
          { subject: '', body },
        );
        void vscode.window.showInformationMessage(
          `Message sent to ${result.sent.map((s) => s.to).join(', ')}${result.refused.length ? `; not to ${result.refused.map((r) => r.to).join(', ')} (inbox full)` : ''}.`,
        );
        return result;
      } catch (e) {
        void vscode.window.showErrorMessage(e instanceof Error ? e.message : String(e));
        return undefined;
      }
    }),
    onRun(deps, COMMANDS.exportDiagnostics, async (run) => {
      const snapshot = await run.coordinator.snapshot();
      const doc = await vscode.workspace.openTextDocument({ language: 'json', content: JSON.stringify(snapshot, null, 2) });
      await vscode.window.showTextDocument(doc, { preview: false });
      return snapshot;
    }),
    vscode.commands.registerCommand(COMMANDS.setStorePassword, async () => {
      const server = serverOf(deps.settings.storeUrl);
      if (!server) {
        void vscode.window.showErrorMessage(
          'Set sessionCoordinator.store.url in your user settings first: the password is kept for that server and sent to no other.',
        );
        return false;
      }
      const password = await vscode.window.showInputBox({
        title: `Redis password for ${server}`,
        password: true,
        prompt: "Kept in VS Code's secret storage, never in settings, and sent only to this server. Empty removes it.",
        ignoreFocusOut: true,
      });
      if (password === undefined) return false;
      // Changing the secret restarts the coordinator (container.ts listens).
      if (password === '') await deps.secrets.delete(STORE_PASSWORD_SECRET);
      else await deps.secrets.store(STORE_PASSWORD_SECRET, savedPassword(deps.settings.storeUrl, password));
      return true;
    }),
    onRun(deps, COMMANDS.openSessionHistory, async (run, sessionId: string) => {
      const page = await run.coordinator.store.history({ sessionId, limit: 1000 });
      const doc = await vscode.workspace.openTextDocument({
        language: 'json',
        content: JSON.stringify({ sessionId, records: page.records }, null, 2),
      });
      await vscode.window.showTextDocument(doc, { preview: true });
      return page.records.length;
    }),
  ];
}
