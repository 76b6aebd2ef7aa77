// Helpers for driving the Session Health panel and the Explorer of a workbench
// opened with openWorkbench(), and for connecting real MCP clients to the
// coordinator the extension runs in that window. Used by test/vscode/panel.test.ts
// and bench/extension.bench.ts.
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Frame, Locator, Page } from 'playwright-core';
import { REPO } from '../../../scripts/vscode/builds.mjs';
import { clickActivityBarItem, findInWebviews } from './browser';

/** Where the browser tests leave their screenshots. */
export const SHOTS = path.join(REPO, '.cache', 'shots');

export const CLI = path.join(REPO, 'dist', 'cli.js');
export const VSIX = path.join(REPO, 'dist', 'session-coordinator.vsix');
/** The title of our activity-bar container (package.json contributes.viewsContainers). */
export const CONTAINER_TITLE = 'Session Coordinator';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Wall-clock milliseconds with sub-millisecond resolution; comparable with the browser's performance.timeOrigin + performance.now(). */
export const wallNow = (): number => performance.timeOrigin + performance.now();

/**
 * The .vsix `npm run package` builds, from what is in dist/ now. When it is
 * older than what goes into it, it is packaged again the way scripts/package.mjs
 * does (vsce, same options), but from a staged copy without the
 * vscode:prepublish build: a test must not rewrite dist/ while another test's
 * extension host may be loading it (npm test runs two files at a time).
 */
export function ensureVsix(): string {
  // The bundles the allow-list ships, read from it so a new bundle is never left out.
  const bundles = readFileSync(path.join(REPO, '.vscodeignore'), 'utf8')
    .split('\n')
    .filter((l) => /^!dist\/[^*]+$/.test(l.trim()))
    .map((l) => l.trim().slice(1));
  const files = [
    'package.json',
    '.vscodeignore',
    'README.md',
    'LICENSE',
    ...bundles,
    ...readdirSync(path.join(REPO, 'media')).map((f) => `media/${f}`),
  ];
  const newest = Math.max(...files.map((f) => statSync(path.join(REPO, f)).mtimeMs));
  if (existsSync(VSIX) && statSync(VSIX).mtimeMs >= newest) return VSIX;
  const stage = mkdtempSync(path.join(os.tmpdir(), 'sc-vsix-'));
  try {
    for (const f of files) {
      mkdirSync(path.dirname(path.join(stage, f)), { recursive: true });
      copyFileSync(path.join(REPO, f), path.join(stage, f));
    }
    const pkg = JSON.parse(readFileSync(path.join(stage, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
    if (pkg.scripts) delete pkg.scripts['vscode:prepublish'];
    writeFileSync(path.join(stage, 'package.json'), JSON.stringify(pkg, null, 2));
    const out = path.join(stage, 'out.vsix');
    const vsce = path.join(REPO, 'node_modules', '@vscode', 'vsce', 'vsce');
    const r = spawnSync(
      process.execPath,
      [vsce, 'package', '--no-dependencies', '--allow-missing-repository', '--no-rewrite-relative-links', '-o', out],
      { cwd: stage, encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(`vsce package failed (exit ${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
    const temp = `${VSIX}.${process.pid}.tmp`;
    copyFileSync(out, temp);
    renameSync(temp, VSIX);
    return VSIX;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- the coordinator of a window

export interface CoordinatorEndpoint {
  /** http://127.0.0.1:<port>/mcp */
  url: string;
  token: string;
  /** The extension host's pid. */
  pid: number;
}

interface DiscoveryFile {
  pid: number;
  url: string;
  kind: string;
}

/** Reads the discovery file a window writes to $SESSION_COORDINATOR_HOME/participants/<pid>.json, and the install's token. */
export async function waitForWindowEndpoint(home: string, options: { timeoutMs?: number } = {}): Promise<CoordinatorEndpoint> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  const dir = path.join(home, 'participants');
  for (;;) {
    let names: string[] = [];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith('.json'));
    } catch {
      // not written yet
    }
    for (const name of names) {
      try {
        const d = JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as DiscoveryFile;
        const token = readFileSync(path.join(home, 'token'), 'utf8').trim();
        if (d.kind === 'window' && d.url && token) return { url: d.url, token, pid: d.pid };
      } catch {
        // being replaced right now
      }
    }
    if (Date.now() > deadline) throw new Error(`no window announced itself in ${dir} (found: ${names.join(', ') || 'nothing'})`);
    await sleep(100);
  }
}

export interface Agent {
  name: string;
  client: Client;
  /** When client.connect() resolved (wallNow()). */
  connectedAt: number;
  /** Ends the session the way a well-behaved client does, ignoring a session already gone. */
  close(): Promise<void>;
}

/** An MCP client over Streamable HTTP with the install's token, like Copilot or any HTTP client. */
export async function connectHttpAgent(
  endpoint: CoordinatorEndpoint,
  name: string,
): Promise<Agent & { transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name, version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(endpoint.url), {
    requestInit: { headers: { Authorization: `Bearer ${endpoint.token}` } },
  });
  await client.connect(transport);
  const connectedAt = wallNow();
  return {
    name,
    client,
    transport,
    connectedAt,
    close: async () => {
      await transport.terminateSession().catch(() => undefined);
      await client.close().catch(() => undefined);
    },
  };
}

/**
 * An MCP client over stdio running a process of our CLI: `connect` (relays to the
 * live window of the workspace) or `serve --stdio` (a headless participant of its own).
 */
export async function connectCliAgent(options: {
  workspace: string;
  home: string;
  name: string;
  command?: 'connect' | 'serve';
}): Promise<Agent & { stderr(): string }> {
  const args =
    options.command === 'serve'
      ? [CLI, 'serve', '--stdio', '--workspace', options.workspace]
      : [CLI, 'connect', '--workspace', options.workspace];
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('NODE_TEST')) env[k] = v;
  env.SESSION_COORDINATOR_HOME = options.home;
  const transport = new StdioClientTransport({ command: process.execPath, args, env, cwd: options.workspace, stderr: 'pipe' });
  let err = '';
  transport.stderr?.on('data', (d: Buffer) => {
    if (err.length < 100_000) err += d.toString();
  });
  const client = new Client({ name: options.name, version: '1.0.0' });
  try {
    await client.connect(transport);
  } catch (e) {
    throw new Error(`${args.slice(1).join(' ')} failed: ${String(e)}\n${err}`);
  }
  const connectedAt = wallNow();
  return { name: options.name, client, connectedAt, stderr: () => err, close: () => client.close().catch(() => undefined) };
}

// ---------------------------------------------------------------- the Session Health panel

/** Opens our activity-bar container and returns the webview frame once the panel has rendered a state. */
export async function openHealthPanel(page: Page, options: { timeoutMs?: number } = {}): Promise<Frame> {
  await showActivityBarItem(page, CONTAINER_TITLE);
  const { frame } = await findInWebviews(page, '#app', options);
  await frame.locator('#app header.status').waitFor({ state: 'visible', timeout: options.timeoutMs ?? 20_000 });
  return frame;
}

/** Clicks an activity-bar item unless it is already the active one (a second click hides the side bar). */
export async function showActivityBarItem(page: Page, label: string): Promise<void> {
  const item = page
    .locator('.activitybar .action-item')
    .filter({ has: page.locator(`[aria-label^="${label.replace(/"/g, '\\"')}"]`) })
    .first();
  await item.waitFor({ state: 'visible', timeout: 20_000 });
  if (await item.evaluate((e) => e.classList.contains('checked'))) return;
  await clickActivityBarItem(page, label);
}

/** The row of a session in the panel's table, by the client name the client gave in initialize. */
export function sessionRow(frame: Frame, clientName: string): Locator {
  return frame.locator(`table.sessions tr[data-session][aria-label^="${clientName.replace(/"/g, '\\"')} over "]`);
}

export interface RowText {
  sessionId: string;
  ariaLabel: string;
  cells: string[];
}

export async function readRow(row: Locator): Promise<RowText> {
  return row.evaluate((tr) => ({
    sessionId: tr.getAttribute('data-session') ?? '',
    ariaLabel: tr.getAttribute('aria-label') ?? '',
    cells: [...tr.querySelectorAll('td')].map((td) => (td.textContent ?? '').trim()),
  }));
}

/**
 * Installs a MutationObserver in the panel's webview that records, for each
 * client name, the wall-clock time its row first appeared. The panel re-renders
 * the whole table on every update, so this sees a row in the very frame it is added.
 */
export async function installRowWatcher(frame: Frame): Promise<void> {
  // A string, not a function: tsx (esbuild keepNames) would wrap the inner functions in a __name() the page lacks.
  await frame.evaluate(`(() => {
    if (window.__scRowsSeen) return;
    const seen = {};
    window.__scRowsSeen = seen;
    const scan = () => {
      for (const tr of document.querySelectorAll('tr[data-session]')) {
        const name = (tr.getAttribute('aria-label') || '').split(' over ')[0];
        if (name && !(name in seen)) seen[name] = performance.timeOrigin + performance.now();
      }
    };
    new MutationObserver(scan).observe(document.body, { childList: true, subtree: true });
    scan();
  })()`);
}

/**
 * How far the webview's clock is ahead of ours (ms), from a round trip: its
 * reading against the midpoint of ours; `uncertainty` is half the round trip.
 */
export async function clockOffset(frame: Frame): Promise<{ offset: number; uncertainty: number }> {
  let best = { offset: 0, uncertainty: Infinity };
  for (let i = 0; i < 5; i++) {
    const before = wallNow();
    const theirs = await frame.evaluate(() => performance.timeOrigin + performance.now());
    const after = wallNow();
    const uncertainty = (after - before) / 2;
    if (uncertainty < best.uncertainty) best = { offset: theirs - (before + after) / 2, uncertainty };
  }
  return best;
}

/**
 * Evaluates `expression` in the frame until it is truthy and returns its value.
 * frame.waitForFunction() with a string evals inside the page, which a
 * webview's CSP (no 'unsafe-eval') refuses; frame.evaluate() is not subject to it.
 */
export async function pollFrame<T>(frame: Frame, expression: string, options: { timeoutMs?: number; pollMs?: number } = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  for (;;) {
    const value = (await frame.evaluate(expression)) as T;
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for \`${expression}\` in ${frame.url()}`);
    await sleep(options.pollMs ?? 10);
  }
}

/** Waits until the row watcher has seen a row for `clientName`; returns when it appeared (webview clock). */
export async function waitForRowSeen(
  frame: Frame,
  clientName: string,
  options: { timeoutMs?: number; pollMs?: number } = {},
): Promise<number> {
  return pollFrame<number>(frame, `window.__scRowsSeen && window.__scRowsSeen[${JSON.stringify(clientName)}]`, options);
}

/** ms from `since` (our clock) to the row of `clientName` appearing in the panel (its clock, corrected by `offset`). */
export async function rowAppearanceMs(
  frame: Frame,
  clientName: string,
  since: number,
  offset: number,
  options: { timeoutMs?: number } = {},
): Promise<number> {
  const seen = await waitForRowSeen(frame, clientName, options);
  return seen - offset - since;
}

// ---------------------------------------------------------------- the Explorer

/** Shows the Explorer and expands the folders of `relativeDir` (e.g. 'src'), one level at a time. */
export async function revealInExplorer(page: Page, relativeDir: string): Promise<void> {
  await showActivityBarItem(page, 'Explorer');
  for (const part of relativeDir.split('/').filter(Boolean)) {
    const row = explorerRow(page, part);
    await row.waitFor({ state: 'visible', timeout: 20_000 });
    const expanded = async (timeout: number): Promise<boolean> =>
      page
        .waitForFunction((r) => r?.getAttribute('aria-expanded') === 'true', await row.elementHandle(), { timeout })
        .then(() => true)
        .catch(() => false);
    // A click can be lost to a hover or to a tree still settling (seen in CI, 1.103): try again, then by keyboard.
    for (let attempt = 0; !(await expanded(attempt === 0 ? 100 : 3_000)); attempt++) {
      if (attempt === 4) {
        mkdirSync(SHOTS, { recursive: true });
        await page.screenshot({ path: path.join(SHOTS, `explorer-reveal-failed-${Date.now()}.png`) }).catch(() => undefined);
        throw new Error(`The Explorer's "${part}" folder did not expand after ${attempt} tries (a screenshot is in ${SHOTS})`);
      }
      // The pointer left on the activity bar shows its "Explorer (Ctrl+Shift+E)" hover over the tree's first rows, and that
      // hover takes the click: move the pointer to the editor area, and close any hover with Escape.
      const size = page.viewportSize();
      if (size) await page.mouse.move(size.width * 0.7, size.height * 0.6);
      await page.keyboard.press('Escape');
      if (attempt < 2) await row.click();
      else {
        await row.focus();
        await page.keyboard.press('ArrowRight');
      }
    }
  }
}

/** The Explorer's row for a file or folder name (its aria-label is the name). */
export function explorerRow(page: Page, name: string): Locator {
  return page.locator(`.explorer-folders-view .monaco-list-row[aria-label="${name.replace(/"/g, '\\"')}"]`).first();
}

export interface FileDecorationView {
  /** The badge text VS Code draws (the ::after content of the label), if any. */
  badge: string | undefined;
  /** The decoration classes on the label (monaco-decoration-itemBadge-…, -itemColor-…). */
  classes: string[];
  /** The label's accessible name: the path, then " • " and each decoration's tooltip. */
  ariaLabel: string;
  /** The badge's colour. */
  color: string;
}

/**
 * How the Explorer shows a row's FileDecoration. VS Code renders it as classes
 * on the row's .monaco-icon-label: monaco-decoration-itemBadge-<hash> draws the
 * badge as `::after { content: "<badge>" }`, -itemColor-<hash> colours the name,
 * and the tooltip is appended to the label's aria-label and shown on hover.
 */
export async function fileDecoration(page: Page, name: string): Promise<FileDecorationView> {
  return explorerRow(page, name)
    .locator('.monaco-icon-label')
    .first()
    .evaluate((label) => {
      const after = label.ownerDocument.defaultView!.getComputedStyle(label, '::after');
      const content = after.content;
      const badge = content && content !== 'none' && content !== 'normal' ? content.replace(/^"(.*)"$/, '$1') : undefined;
      return {
        badge: badge === '' ? undefined : badge,
        classes: [...label.classList].filter((c) => c.startsWith('monaco-decoration-')),
        ariaLabel: label.getAttribute('aria-label') ?? '',
        color: after.color,
      };
    });
}

/** Hovers an Explorer row and returns the text of the hover VS Code shows (the path and the decorations' tooltips). */
export async function explorerHover(page: Page, name: string, options: { timeoutMs?: number } = {}): Promise<string> {
  const row = explorerRow(page, name);
  await page.mouse.move(0, 0);
  await row.hover();
  const hover = page.locator('.monaco-hover:visible, .workbench-hover:visible').first();
  await hover.waitFor({ state: 'visible', timeout: options.timeoutMs ?? 10_000 });
  return hover.innerText();
}

// ---------------------------------------------------------------- themes

/**
 * Runs a palette command whose title is exactly `title` (typing it can leave a
 * longer title first, e.g. "Preferences: Browse Color Themes in Marketplace"):
 * moves to its row with the arrow keys, since hovers can cover rows on 1.103.
 */
export async function runExactCommand(page: Page, title: string): Promise<void> {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  await input.fill(`>${title}`);
  const rows = page.locator('.quick-input-widget .quick-input-list .monaco-list-row');
  const index = await (async () => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const labels = await rows.evaluateAll((rs) => rs.map((r) => r.getAttribute('aria-label') ?? ''));
      const i = labels.findIndex((l) => l === title || l.startsWith(`${title},`));
      if (i >= 0) return i;
      if (Date.now() > deadline) throw new Error(`no palette command "${title}" among ${JSON.stringify(labels)}`);
      await sleep(100);
    }
  })();
  for (let i = 0; i < index; i++) await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
}

/** Switches the colour theme the way a person does (Preferences: Color Theme, by its label, e.g. "Light Modern") and waits until the workbench shows it. */
export async function setColorTheme(page: Page, label: string, kind: 'dark' | 'light'): Promise<void> {
  await runExactCommand(page, 'Preferences: Color Theme');
  const input = page.locator('.quick-input-widget input');
  await page.locator('.quick-input-widget .quick-input-list .monaco-list-row').first().waitFor({ state: 'visible', timeout: 10_000 });
  await input.fill(label);
  await page
    .locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: label })
    .first()
    .waitFor({ state: 'visible', timeout: 10_000 });
  await page.keyboard.press('Enter');
  await page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 10_000 });
  const cls = kind === 'dark' ? 'vs-dark' : 'vs';
  await page.waitForFunction(`document.querySelector('.monaco-workbench')?.classList.contains(${JSON.stringify(cls)})`, undefined, {
    timeout: 20_000,
  });
}
