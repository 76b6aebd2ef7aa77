// Drives the VS Code workbench that code-server serves from Debian's chromium
// through playwright-core (no browser download). See shared/docs/real-vscode.md.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Frame, type Locator, type Page } from 'playwright-core';
import { CACHE } from '../../../scripts/vscode/builds.mjs';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** chromium's HOME, XDG_* and TMPDIR (it writes ~/.pki and more), and each run's profile. */
const BROWSER_DIR = path.join(CACHE, 'browser');

export interface OpenWorkbenchOptions {
  /** Extension-development parameters, e.g. [['extensionTestsPath', 'vscode-remote://…']]. */
  payload?: Array<[string, string]>;
  /** Functions the page may call (codeAutomationExit, …), exposed before it loads. */
  exposeFunctions?: Record<string, (...args: never[]) => unknown>;
  /** Default true. */
  headless?: boolean;
  /** Default 1400 x 900. */
  viewport?: { width: number; height: number };
  /** How long to wait for `.monaco-workbench`; default 60 s. */
  timeoutMs?: number;
  /** Called with each console message of the page. */
  onConsole?: (line: string) => void;
}

export interface Workbench {
  context: BrowserContext;
  page: Page;
  /** The address opened. */
  url: string;
  /** Console messages and page errors so far. */
  console(): string[];
  /** Closes chromium and removes its profile. */
  close(): Promise<void>;
}

/** `<url>/?folder=<folder>[&payload=…]`. */
export function workbenchUrl(url: string, folder: string, payload?: Array<[string, string]>): string {
  // A .code-workspace file opens a multi-root workspace.
  let u = `${url.replace(/\/$/, '')}/?${folder.endsWith('.code-workspace') ? 'workspace' : 'folder'}=${encodeURIComponent(folder)}`;
  if (payload && payload.length > 0) u += `&payload=${encodeURIComponent(JSON.stringify(payload))}`;
  return u;
}

/** vscode-remote://127.0.0.1:<port>/abs/path: how a payload names a file on the code-server side. */
export function remoteUri(serverUrl: string, absPath: string): string {
  const { host } = new URL(serverUrl);
  const p = path.resolve(absPath).split(path.sep).map(encodeURIComponent).join('/');
  return `vscode-remote://${host}${p}`;
}

/** Opens the workbench of `folder` in a new headless chromium and waits for `.monaco-workbench`. */
export async function openWorkbench(url: string, folder: string, options: OpenWorkbenchOptions = {}): Promise<Workbench> {
  const home = path.join(BROWSER_DIR, 'home');
  const profiles = path.join(BROWSER_DIR, 'profiles');
  mkdirSync(home, { recursive: true });
  mkdirSync(profiles, { recursive: true });
  for (const d of ['config', 'cache', 'data', 'tmp']) mkdirSync(path.join(BROWSER_DIR, d), { recursive: true });
  const profile = mkdtempSync(path.join(profiles, 'p-'));
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  Object.assign(env, {
    HOME: home,
    XDG_CONFIG_HOME: path.join(BROWSER_DIR, 'config'),
    XDG_CACHE_HOME: path.join(BROWSER_DIR, 'cache'),
    XDG_DATA_HOME: path.join(BROWSER_DIR, 'data'),
    TMPDIR: path.join(BROWSER_DIR, 'tmp'),
  });

  let context: BrowserContext;
  try {
    // A persistent context: launch() would make its profile in os.tmpdir().
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      headless: options.headless ?? true,
      viewport: options.viewport ?? { width: 1400, height: 900 },
      artifactsDir: path.join(profile, 'artifacts'),
      env,
    });
  } catch (e) {
    rmSync(profile, { recursive: true, force: true });
    throw e;
  }
  const close = async (): Promise<void> => {
    await context.close().catch(() => undefined);
    rmSync(profile, { recursive: true, force: true });
  };
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    const messages: string[] = [];
    const record = (line: string): void => {
      messages.push(line);
      options.onConsole?.(line);
    };
    page.on('console', (m) => record(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => record(`[pageerror] ${e.message}`));
    for (const [name, fn] of Object.entries(options.exposeFunctions ?? {})) {
      await page.exposeFunction(name, fn as (...args: unknown[]) => unknown);
    }
    const target = workbenchUrl(url, folder, options.payload);
    const timeout = options.timeoutMs ?? 60_000;
    await page.goto(target, { timeout });
    await page.waitForSelector('.monaco-workbench', { timeout });
    return { context, page, url: target, console: () => [...messages], close };
  } catch (e) {
    await close();
    throw e;
  }
}

/**
 * Finds `selector` inside a webview: tries each frame of the page (webviews are
 * nested iframes) until one has a match, for up to timeoutMs (default 20 s).
 */
export async function findInWebviews(
  page: Page,
  selector: string,
  options: { timeoutMs?: number } = {},
): Promise<{ frame: Frame; locator: Locator }> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  for (;;) {
    for (const frame of page.frames()) {
      if (frame === page.mainFrame()) continue;
      try {
        const locator = frame.locator(selector);
        if ((await locator.count()) > 0) return { frame, locator: locator.first() };
      } catch {
        // a frame detached or navigating meanwhile
      }
    }
    if (Date.now() > deadline) {
      throw new Error(
        `no webview frame has "${selector}" (frames: ${page
          .frames()
          .map((f) => f.url() || '(blank)')
          .join(', ')})`,
      );
    }
    await page.waitForTimeout(250);
  }
}

/** Clicks an activity-bar item by (the start of) its aria-label, e.g. the title of a view container. */
export async function clickActivityBarItem(page: Page, label: string): Promise<void> {
  const item = page.locator(`.activitybar [aria-label^="${label.replace(/"/g, '\\"')}"]`).first();
  await item.waitFor({ state: 'visible', timeout: 20_000 });
  await item.click();
}

/** Runs a command from the command palette by its title (typed, then Enter: hovers can cover quick-pick rows on 1.103). */
export async function runCommand(page: Page, title: string): Promise<void> {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  await input.fill(`>${title}`);
  await page.locator('.quick-input-list .monaco-list-row').first().waitFor({ state: 'visible', timeout: 10_000 });
  await page.keyboard.press('Enter');
}

/**
 * The texts of the notifications shown now: the toasts, or the notification
 * center's list when it is open. With `--vscode-option enable-smoke-test-driver`
 * (VS Code 1.133+, see startCodeServer) the workbench shows no toasts at all:
 * notifications only reach the center, so use waitForNotification there.
 */
export async function notifications(page: Page): Promise<string[]> {
  return page.locator('.notification-list-item-message').allInnerTexts();
}

/** Opens the notification center (Notifications: Show Notifications) unless it is open. */
export async function openNotificationCenter(page: Page): Promise<void> {
  if ((await page.locator('.notifications-center.visible').count()) > 0) return;
  await runCommand(page, 'Notifications: Show Notifications');
  await page.locator('.notifications-center.visible').waitFor({ state: 'visible', timeout: 10_000 });
}

/**
 * Waits for a notification whose text matches: first among the toasts, then,
 * if none came within 3 s (no toasts under the smoke-test driver), in the
 * notification center. Returns its text.
 */
export async function waitForNotification(page: Page, text: string | RegExp, options: { timeoutMs?: number } = {}): Promise<string> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  const toastDeadline = Math.min(deadline, Date.now() + 3000);
  const matches = (t: string): boolean => (typeof text === 'string' ? t.includes(text) : text.test(t));
  let centerOpened = false;
  for (;;) {
    const found = (await notifications(page)).find(matches);
    if (found !== undefined) return found;
    if (!centerOpened && Date.now() > toastDeadline) {
      await openNotificationCenter(page);
      centerOpened = true;
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(`no notification matching ${String(text)}; shown: ${JSON.stringify(await notifications(page))}`);
    }
    await page.waitForTimeout(200);
  }
}

/** Saves a PNG of the page (folders made as needed); returns the file. */
export async function screenshot(page: Page, file: string): Promise<string> {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  await page.screenshot({ path: file });
  return file;
}
