// The Session Health panel, the Explorer badges and the panel's keyboard use,
// driven from a real browser against the packaged .vsix installed into a real
// VS Code (code-server), on the oldest build we support and the latest we can
// get. Real MCP clients connect to the coordinator the extension runs.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import * as path from 'node:path';
import { before, test, type TestContext } from 'node:test';
import type { Frame, Page } from 'playwright-core';
import { git } from '../support/gitRepository.js';
import { runCliWith } from '../support/cliProcesses.js';
import { cliEnv, REPO } from '../support/processes.js';
import { tempDir } from '../support/workspace.js';
import { openWorkbench, type Workbench } from './harness/browser.js';
import { LATEST_BUILD, MIN_BUILD, startCodeServer, type CodeServerHandle, type VscodeBuild } from './harness/codeServer.js';
import {
  clockOffset,
  connectCliAgent,
  connectHttpAgent,
  ensureVsix,
  explorerHover,
  fileDecoration,
  installRowWatcher,
  openHealthPanel,
  pollFrame,
  readRow,
  revealInExplorer,
  rowAppearanceMs,
  sessionRow,
  SHOTS,
  setColorTheme,
  showActivityBarItem,
  waitForWindowEndpoint,
  type Agent,
  type CoordinatorEndpoint,
} from './harness/sessionPanel.js';

/** R-EXT-1: a session shows up in the panel within this long of its client connecting. */
const ROW_WITHIN_MS = 1000;

let vsix: string;
before(() => {
  vsix = ensureVsix();
});

async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Saves the side bar (the panel as a person sees it) and the whole window. */
async function shoot(page: Page, name: string): Promise<string[]> {
  mkdirSync(SHOTS, { recursive: true });
  const side = path.join(SHOTS, `${name}.png`);
  const full = path.join(SHOTS, `${name}-window.png`);
  await page.mouse.move(700, 600); // no hover left on the panel
  await page.locator('.part.sidebar').screenshot({ path: side });
  await page.screenshot({ path: full });
  return [side, full];
}

/**
 * What the eye checks in a screenshot, measured: overflow, unstyled toolkit
 * components, contrast (WCAG ratio against the panel's background). A string,
 * not a function: tsx would wrap the helpers in a __name() the page lacks.
 */
const VISUAL_REPORT = `(() => {
  const rgb = (c) => {
    const hex = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})/i.exec(c.trim());
    return hex ? hex.slice(1, 4).map((h) => parseInt(h, 16)) : (c.match(/[\\d.]+/g) || []).slice(0, 3).map(Number);
  };
  const lum = (c) => {
    const [r = 0, g = 0, b = 0] = rgb(c).map((v) => v / 255).map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const contrast = (a, b) => {
    const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
    return Math.round(((hi + 0.05) / (lo + 0.05)) * 100) / 100;
  };
  const bodyBg = getComputedStyle(document.body).backgroundColor;
  const bg = bodyBg === 'rgba(0, 0, 0, 0)' ? getComputedStyle(document.documentElement).getPropertyValue('--vscode-sideBar-background').trim() || bodyBg : bodyBg;
  const table = document.querySelector('table.sessions');
  const button = document.querySelector('vscode-button');
  const badge = document.querySelector('vscode-badge');
  const badgeControl = badge && badge.shadowRoot && badge.shadowRoot.querySelector('.control');
  const tag = document.querySelector('vscode-tag');
  const th = document.querySelector('table.sessions th');
  const muted = document.querySelector('.muted');
  const state = document.querySelector('td[class^="state-"]');
  return {
    bodyClass: document.body.className,
    background: bg,
    viewportWidth: document.documentElement.clientWidth,
    pageScrollWidth: document.documentElement.scrollWidth,
    tableWidth: table ? Math.round(table.getBoundingClientRect().width) : undefined,
    tableOverflowsBy: table ? Math.round(table.getBoundingClientRect().right - document.documentElement.clientWidth) : undefined,
    toolkitDefined: ['vscode-button', 'vscode-badge', 'vscode-tag'].map((n) => n + ':' + (customElements.get(n) ? 'yes' : 'NO')).join(' '),
    buttonDisplay: button ? getComputedStyle(button).display : 'no button',
    buttonBackground: button ? getComputedStyle(button).backgroundColor : 'no button',
    buttonText: button ? getComputedStyle(button).color : 'no button',
    buttonHeight: button ? Math.round(button.getBoundingClientRect().height) : undefined,
    badgeBackground: badgeControl ? getComputedStyle(badgeControl).backgroundColor : 'no shadow control',
    tagRendered: tag ? Math.round(tag.getBoundingClientRect().width) + 'px wide' : 'no tag on screen',
    contrastText: contrast(getComputedStyle(document.body).color, bg),
    contrastHeader: th ? contrast(getComputedStyle(th).color, bg) : undefined,
    contrastMuted: muted ? contrast(getComputedStyle(muted).color, bg) : undefined,
    contrastState: state ? contrast(getComputedStyle(state).color, bg) : undefined,
    contrastButton: button ? contrast(getComputedStyle(button).color, getComputedStyle(button).backgroundColor) : undefined,
    stateColor: state ? getComputedStyle(state).color : undefined,
  };
})()`;

async function visualReport(frame: Frame): Promise<Record<string, unknown>> {
  return (await frame.evaluate(VISUAL_REPORT)) as Record<string, unknown>;
}

interface Run {
  build: VscodeBuild;
  workspace: string;
  /** A linked git worktree of the workspace's repository, on branch feature. */
  worktree: string;
  home: string;
  server: CodeServerHandle;
  wb: Workbench;
  endpoint: CoordinatorEndpoint;
  agents: Agent[];
}

async function start(build: VscodeBuild): Promise<Run & { stop(): Promise<void> }> {
  const ws = tempDir('sc-panel-ws-');
  const home = tempDir('sc-panel-home-');
  mkdirSync(path.join(ws.path, 'src'));
  writeFileSync(path.join(ws.path, 'src', 'app.ts'), 'export const answer = 42;\n');
  writeFileSync(path.join(ws.path, 'src', 'util.ts'), 'export const twice = (n: number): number => n * 2;\n');
  writeFileSync(path.join(ws.path, 'README.md'), '# A project\n');
  // The workspace is a git repository with a second worktree: the conflict radar's test uses it.
  git(ws.path, 'init', '-q');
  git(ws.path, 'add', '.');
  git(ws.path, 'commit', '-q', '-m', 'one');
  const worktree = `${ws.path}-feature`;
  git(ws.path, 'worktree', 'add', '-q', '-b', 'feature', worktree);
  const agents: Agent[] = [];
  let server: CodeServerHandle | undefined;
  let wb: Workbench | undefined;
  const stop = async (): Promise<void> => {
    for (const a of agents) await a.close();
    await wb?.close();
    await server?.stop();
    await ws.remove();
    await rm(worktree, { recursive: true, force: true });
    await home.remove();
  };
  try {
    server = await startCodeServer({
      build,
      workspace: ws.path,
      vsix,
      env: { SESSION_COORDINATOR_HOME: home.path },
      // UI only: no test payload, so no smoke-test driver (it would hide the toasts).
      smokeTestDriver: false,
      // The workspace is a git repository (for the radar); VS Code's own git support would redecorate the Explorer under the hover tests.
      userSettings: { 'workbench.colorTheme': 'Default Dark Modern', 'git.enabled': false },
    });
    wb = await openWorkbench(server.url, ws.path);
    const endpoint = await waitForWindowEndpoint(home.path);
    return { build, workspace: ws.path, worktree, home: home.path, server, wb, endpoint, agents, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function panelSteps(t: TestContext, run: Run): Promise<void> {
  const { wb, endpoint, agents } = run;
  const page = wb.page;
  const v = run.build.vscode;
  let frame!: Frame;
  const timings: Record<string, number> = {};

  await t.test(`R-EXT-1, R-AGT-3: with no agent, the panel shows the empty state leading with "Set up an agent…" (${v})`, async () => {
    frame = await openHealthPanel(page);
    await assert.doesNotReject(frame.locator('table.sessions').waitFor({ state: 'detached', timeout: 1000 }), 'no sessions table yet');
    const empty = frame.locator('#app .empty');
    assert.match(await empty.innerText(), /No agent is connected yet/);
    const cta = empty.locator('vscode-button', { hasText: 'Set up an agent' });
    assert.equal(await cta.count(), 1, 'the call to action is there');
    assert.equal(await cta.getAttribute('appearance'), 'primary');
    assert.equal(
      await empty.locator('vscode-button', { hasText: 'Copy client config' }).count(),
      1,
      'pasting a config by hand is still offered',
    );
    assert.match(await frame.locator('#app header.status').innerText(), /^0 sessions across 1 participant/);
    // The call to action works: it asks which agent to set up.
    await cta.click();
    const pick = page.locator('.quick-input-widget');
    await pick.waitFor({ state: 'visible', timeout: 10_000 });
    assert.match(await pick.innerText(), /Claude Code: \.mcp\.json, and the edit guard/);
    await page.keyboard.press('Escape');
    await pick.waitFor({ state: 'hidden', timeout: 10_000 });
  });

  let http!: Awaited<ReturnType<typeof connectHttpAgent>>;
  await t.test(
    `R-EXT-1, R-EXT-5: an MCP client over Streamable HTTP shows up in the sessions table within ${ROW_WITHIN_MS} ms (${v})`,
    async () => {
      await installRowWatcher(frame);
      const { offset, uncertainty } = await clockOffset(frame);
      http = await connectHttpAgent(endpoint, 'panel-http-agent');
      agents.push(http);
      const ms = await rowAppearanceMs(frame, http.name, http.connectedAt, offset);
      timings.http = ms;
      console.log(
        `[${v}] HTTP client's row appeared ${ms.toFixed(1)} ms after connect resolved (clock offset ${offset.toFixed(1)} ± ${uncertainty.toFixed(1)} ms)`,
      );
      const row = await readRow(sessionRow(frame, http.name));
      assert.equal(row.cells[1], 'http');
      assert.equal(row.cells[8], 'this window');
      assert.ok(ms < ROW_WITHIN_MS, `row appeared after ${ms.toFixed(0)} ms`);
    },
  );

  await t.test(
    `R-EXT-5: \`session-coordinator connect\` over stdio relays to the window and shows up with transport "relay" (${v})`,
    async () => {
      const { offset } = await clockOffset(frame);
      const relay = await connectCliAgent({ workspace: run.workspace, home: run.home, name: 'panel-relay-agent' });
      agents.push(relay);
      const ms = await rowAppearanceMs(frame, relay.name, relay.connectedAt, offset);
      timings.relay = ms;
      console.log(`[${v}] relay client's row appeared ${ms.toFixed(1)} ms after connect resolved`);
      const row = await readRow(sessionRow(frame, relay.name));
      assert.equal(row.cells[1], 'relay', relay.stderr());
      assert.equal(row.cells[8], 'this window');
      assert.ok(ms < ROW_WITHIN_MS, `row appeared after ${ms.toFixed(0)} ms`);
    },
  );

  await t.test(`R-EXT-5: "End" in the panel ends the HTTP client's session (${v})`, async () => {
    await http.client.callTool({ name: 'whoami', arguments: {} });
    await sessionRow(frame, http.name).locator('vscode-button', { hasText: 'End' }).click();
    await sessionRow(frame, http.name).waitFor({ state: 'detached', timeout: 5000 });
    await eventually(
      "the client's next call to fail",
      async () => {
        try {
          await http.client.callTool({ name: 'whoami', arguments: {} });
          return false;
        } catch (e) {
          return e;
        }
      },
      5000,
    );
    assert.equal(await sessionRow(frame, 'panel-relay-agent').count(), 1, 'the other session stays');
  });

  await t.test(
    `R-CLM-4, R-EXT-5: a claim on src/app.ts by an agent of a headless participant badges the file in the Explorer (${v})`,
    async () => {
      const headless = await connectCliAgent({ workspace: run.workspace, home: run.home, name: 'headless-agent', command: 'serve' });
      agents.push(headless);
      // R-EXT-5: the headless participant's session is in this window's panel too.
      await sessionRow(frame, headless.name).waitFor({ state: 'attached', timeout: 10_000 });
      const where = (await readRow(sessionRow(frame, headless.name))).cells[8];
      assert.notEqual(where, 'this window');
      const granted = await headless.client.callTool({ name: 'claim_acquire', arguments: { resource: 'src/app.ts' } });
      assert.ok(!granted.isError, JSON.stringify(granted.content));
      await revealInExplorer(page, 'src');
      const decoration = await eventually('the badge on app.ts', async () => {
        const d = await fileDecoration(page, 'app.ts');
        return d.badge === 'C' ? d : undefined;
      });
      assert.ok(
        decoration.classes.some((c) => c.startsWith('monaco-decoration-itemBadge')),
        decoration.classes.join(' '),
      );
      assert.match(decoration.ariaLabel, /Claimed by headless-agent \(session [0-9a-f]{8}\) until /);
      assert.match(await explorerHover(page, 'app.ts'), /Claimed by headless-agent/);
      mkdirSync(SHOTS, { recursive: true });
      await page.locator('.part.sidebar').screenshot({ path: path.join(SHOTS, `explorer-badge-${v}.png`) });
      const plain = await fileDecoration(page, 'README.md');
      assert.equal(plain.badge, undefined, 'an unclaimed file has no badge');
    },
  );

  await t.test(`R-CLM-4: a claim by an agent connected to this window badges the file too (${v})`, async () => {
    const agent = await connectHttpAgent(endpoint, 'window-agent');
    agents.push(agent);
    const granted = await agent.client.callTool({ name: 'claim_acquire', arguments: { resource: 'src/util.ts', ttlSeconds: 600 } });
    assert.ok(!granted.isError, JSON.stringify(granted.content));
    await revealInExplorer(page, 'src');
    const decoration = await eventually(
      'the badge on util.ts',
      async () => {
        const d = await fileDecoration(page, 'util.ts');
        return d.badge === 'C' ? d : undefined;
      },
      5000,
    );
    assert.match(decoration.ariaLabel, /Claimed by window-agent/);
  });

  await t.test(
    `R-AGT-6: a person's message from the panel reaches an agent; an agent's HTML to the people shows as text (${v})`,
    async () => {
      frame = await openHealthPanel(page); // the Explorer took the side bar: a new frame
      const agent = await connectHttpAgent(endpoint, 'message-agent');
      agents.push(agent);
      const who = (await agent.client.callTool({ name: 'whoami', arguments: {} })).structuredContent as { sessionId: string };
      const thread = frame.locator(`.thread[data-inbox="${who.sessionId}"]`);
      await thread.waitFor({ state: 'attached', timeout: 10_000 });
      await thread.locator('vscode-button', { hasText: 'Message…' }).click();
      const input = page.locator('.quick-input-widget input');
      await input.waitFor({ state: 'visible', timeout: 10_000 });
      await input.fill('Stop touching the API, the other agent is migrating it');
      await page.keyboard.press('Enter');
      const got = await eventually("the message in the agent's inbox", async () => {
        const page = (await agent.client.callTool({ name: 'message_inbox', arguments: {} })).structuredContent as {
          messages: Array<{ body: string; from: { clientName: string }; replyTo: string }>;
        };
        return page.messages[0];
      });
      assert.deepEqual(
        [got.body, got.from.clientName, got.replyTo],
        ['Stop touching the API, the other agent is migrating it', 'a person, from VS Code', 'people'],
      );
      const html = '<img src=x onerror="document.body.dataset.pwned=1"><b>done</b>';
      const sent = await agent.client.callTool({ name: 'message_send', arguments: { to: 'people', body: html } });
      assert.ok(!sent.isError, JSON.stringify(sent.content));
      const people = frame.locator('.thread[data-inbox="people"]');
      await eventually("the agent's message in the people's thread", async () =>
        (await people.count()) > 0 && (await people.innerText()).includes('<b>done</b>') ? true : undefined,
      );
      assert.equal(await people.locator('img, b').count(), 0, "no markup was made from the agent's text");
      assert.equal(await frame.evaluate('document.body.dataset.pwned ?? null'), null);
      assert.match(await thread.innerText(), /a person \(a person, from VS Code\).*Stop touching the API/s);
    },
  );

  await t.test(
    `R-CLM-5: an agent in another git worktree claims src/app.ts too: the panel lists it under Across worktrees and the status bar warns (${v})`,
    async () => {
      const elsewhere = await connectCliAgent({ workspace: run.worktree, home: run.home, name: 'feature-agent', command: 'serve' });
      agents.push(elsewhere);
      const granted = await elsewhere.client.callTool({ name: 'claim_acquire', arguments: { resource: 'src/app.ts' } });
      assert.ok(!granted.isError, JSON.stringify(granted.content));
      assert.match(JSON.stringify(granted.structuredContent), /another worktree of this repository is changing what you edit/);
      frame = await openHealthPanel(page);
      const radar = frame.locator('ul.radar li', { hasText: 'src/app.ts' });
      await radar.waitFor({ state: 'attached', timeout: 10_000 });
      const text = await radar.innerText();
      assert.match(text, /src\/app\.ts \(this worktree too\):/);
      assert.match(text, /feature \(branch feature\) by .*feature-agent/);
      assert.match(text, /\(branch main\) by .*headless-agent/);
      assert.match(
        await frame.locator('ul.claims li', { hasText: 'feature-agent' }).first().innerText(),
        /src\/app\.ts held by feature-agent in worktree .*-feature \(branch feature\) until/,
      );
      // The process list says which worktree and branch each participant's sessions work in.
      await frame
        .locator('ul.participants li', { hasText: '-feature (branch feature)' })
        .first()
        .waitFor({ state: 'attached', timeout: 10_000 });
      const item = page.locator('.statusbar-item', { hasText: /sessions?/ }).filter({ has: page.locator('.codicon-git-merge') });
      await item.first().waitFor({ state: 'attached', timeout: 10_000 });
      assert.match(await item.first().innerText(), /\d+ sessions?\s+1/);
    },
  );

  await t.test(`R-EXT-1: screenshots of the panel with sessions in a dark and a light theme (${v})`, async () => {
    frame = await openHealthPanel(page); // a new frame: the webview is disposed while hidden (retainContextWhenHidden is off)
    await sessionRow(frame, 'headless-agent').waitFor({ state: 'attached', timeout: 10_000 });
    // A second point in the trend lines.
    await page.waitForTimeout(1500);
    await pollFrame(frame, `document.body.classList.contains('vscode-dark')`, { timeoutMs: 10_000, pollMs: 100 });
    const dark = await shoot(page, `panel-${v}-dark`);
    const darkReport = await visualReport(frame);
    await setColorTheme(page, 'Light Modern', 'light');
    await pollFrame(frame, `document.body.classList.contains('vscode-light')`, { timeoutMs: 10_000, pollMs: 100 });
    await page.waitForTimeout(300);
    const light = await shoot(page, `panel-${v}-light`);
    const lightReport = await visualReport(frame);
    console.log(`[${v}] screenshots: ${[...dark, ...light].map((f) => path.relative(REPO, f)).join(', ')}`);
    console.log(`[${v}] dark: ${JSON.stringify(darkReport)}`);
    console.log(`[${v}] light: ${JSON.stringify(lightReport)}`);
    const csp = wb.console().filter((l) => /Content Security Policy/.test(l));
    console.log(
      `[${v}] CSP violations in the page's console: ${csp.length}${csp.length ? `\n  ${csp.map((l) => l.slice(0, 220)).join('\n  ')}` : ''}`,
    );
    for (const r of [darkReport, lightReport]) {
      assert.equal(r.toolkitDefined, 'vscode-button:yes vscode-badge:yes vscode-tag:yes', 'the toolkit components are registered');
      // An unstyled custom element is display: inline; the toolkit's button is inline-flex.
      assert.equal(r.buttonDisplay, 'inline-flex', 'the toolkit button is styled');
      assert.notEqual(r.badgeBackground, 'rgba(0, 0, 0, 0)', 'the toolkit badge is styled');
      assert.ok((r.contrastText as number) >= 4.5, `body text contrast ${String(r.contrastText)}`);
    }
  });

  await t.test(`R-EXT-5: a session row is focusable, has an accessible name, and Enter opens its history (${v})`, async () => {
    const row = sessionRow(frame, 'panel-relay-agent');
    const { sessionId, ariaLabel } = await readRow(row);
    assert.equal(await row.getAttribute('tabindex'), '0');
    assert.match(ariaLabel, /^panel-relay-agent over relay, active; press Enter for its history$/);
    await row.press('Enter');
    const editor = page.locator('.editor-instance .monaco-editor .view-lines').first();
    await eventually('the history editor', async () => (await editor.innerText()).replace(/\u00a0/g, ' ').includes(sessionId), 10_000);
    assert.match((await editor.innerText()).replace(/\u00a0/g, ' '), /"records"/);
  });

  await t.test(`R-EXT-5: keyboard focus on a session row survives the panel's once-a-second update (${v})`, async () => {
    frame = await openHealthPanel(page);
    const row = sessionRow(frame, 'panel-relay-agent');
    const active = async (): Promise<string> =>
      (await frame.evaluate(`document.activeElement?.getAttribute('aria-label') ?? document.activeElement?.tagName ?? ''`)) as string;
    // Focusing can race a redraw (the located row is replaced before it takes focus): focus until it holds once.
    for (let i = 0; i < 3 && !/^panel-relay-agent over relay/.test(await active()); i++) await row.focus();
    await page.waitForTimeout(2500);
    const focused = await active();
    assert.match(focused, /^panel-relay-agent over relay/);
  });

  await t.test(
    `R-EXT-1: while shown the panel redraws only what changed, a trend point a second; while hidden it builds no panel state, and the status bar still follows (${v})`,
    async () => {
      /** The window participant's own counters, read as any person would: `session-coordinator status --json`. */
      const windowCounters = async (): Promise<{ full: number; status: number }> => {
        // The window's token is the install's own (no test token in its environment).
        const env = cliEnv(run.home);
        delete env.SESSION_COORDINATOR_TOKEN;
        const status = await runCliWith(['status', '--json', '--workspace', run.workspace], env);
        assert.equal(status.code, 0, status.stderr);
        const all = (
          JSON.parse(status.stdout) as {
            participants: Array<{ participant: { kind: string }; snapshot?: { metrics: Record<string, unknown> } }>;
          }
        ).participants;
        const metrics = all.find((p) => p.participant.kind === 'window')?.snapshot?.metrics;
        assert.ok(metrics, `status --json has the window's snapshot: ${status.stdout.slice(0, 600)}`);
        return { full: Number(metrics['panel.fullStates']), status: Number(metrics['panel.statusStates']) };
      };
      const points = async (): Promise<number> => Number(await frame.evaluate(`document.querySelector('.metrics')?.dataset.points ?? '0'`));
      const kept = async (): Promise<string[]> =>
        (await frame.evaluate(
          `[...document.querySelectorAll('[data-slot] > [data-kept]')].map((n) => n.parentElement.dataset.slot).sort()`,
        )) as string[];
      frame = await openHealthPanel(page);
      await sessionRow(frame, 'panel-relay-agent').waitFor({ state: 'attached', timeout: 10_000 });
      // The state built when the panel was shown has landed; then each section's element is marked.
      await page.waitForTimeout(1500);
      await frame.evaluate(
        `for (const slot of document.querySelectorAll('[data-slot]')) if (slot.firstElementChild) slot.firstElementChild.dataset.kept = 'yes'`,
      );
      const marked = await kept();
      assert.ok(
        ['claims', 'participants', 'sessions'].every((s) => marked.includes(s)),
        marked.join(' '),
      );
      const shown = { points: await points(), counters: await windowCounters() };
      assert.ok(shown.counters.full >= 1, `showing the panel built its state (${JSON.stringify(shown.counters)})`);
      await page.waitForTimeout(3000);
      const quiet = { points: await points(), counters: await windowCounters() };
      assert.ok(quiet.points >= shown.points + 2, `trend points keep coming (${shown.points} -> ${quiet.points})`);
      assert.deepEqual(
        await kept(),
        marked.filter((s) => s !== 'trends'),
        'in 3 s with no change, only the trend lines were redrawn',
      );
      assert.equal(quiet.counters.full, shown.counters.full, 'no state built while nothing changed');
      // A change redraws what it changes.
      const newcomer = await connectHttpAgent(endpoint, 'redraw-agent');
      agents.push(newcomer);
      await sessionRow(frame, newcomer.name).waitFor({ state: 'attached', timeout: 10_000 });
      const afterChange = await kept();
      assert.ok(!afterChange.includes('sessions'), 'the sessions table was redrawn');
      assert.ok(afterChange.includes('claims'), `the claims, unchanged, were not (${afterChange.join(' ')})`);
      // Hidden: no state for the panel at all, however long; a change updates the status bar from a state of its own.
      await showActivityBarItem(page, 'Explorer');
      await page.waitForTimeout(500);
      const hidden = await windowCounters();
      await page.waitForTimeout(3000);
      const hiddenQuiet = await windowCounters();
      assert.deepEqual(hiddenQuiet, hidden, 'nothing is built for a hidden panel while nothing changes');
      const late = await connectHttpAgent(endpoint, 'hidden-change-agent');
      agents.push(late);
      const counted = await eventually(
        'the status bar state of the change',
        async () => {
          const c = await windowCounters();
          return c.status > hiddenQuiet.status ? c : undefined;
        },
        10_000,
      );
      assert.equal(counted.full, hiddenQuiet.full, "a change while hidden builds the status bar's state, not the panel's");
      console.log(
        `[${v}] panel: ${quiet.points - shown.points} trend points in 3 s shown, ${quiet.counters.full - shown.counters.full} states built; hidden 3 s: ${hiddenQuiet.full - hidden.full} panel states`,
      );
    },
  );

  console.log(`[${v}] row appearance: HTTP ${timings.http?.toFixed(1)} ms, relay ${timings.relay?.toFixed(1)} ms`);
  await showActivityBarItem(page, 'Explorer');
}

for (const build of [MIN_BUILD, LATEST_BUILD]) {
  test(
    `R-EXT-1, R-EXT-5, R-CLM-4: the Session Health panel and Explorer badges in VS Code ${build.vscode}, from a browser`,
    { timeout: 150_000 },
    async (t) => {
      const run = await start(build);
      try {
        await panelSteps(t, run);
      } finally {
        await run.stop();
      }
    },
  );
}
