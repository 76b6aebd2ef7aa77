import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Page } from 'playwright-core';
import { runCliWith } from '../support/cliProcesses.js';
import { cliEnv } from '../support/processes.js';
import { tempDir } from '../support/workspace.js';
import { openWorkbench } from './harness/browser.js';
import { LATEST_BUILD, startCodeServer } from './harness/codeServer.js';

// VS Code's agent hooks (1.110+, so the latest build only): the file `setup vscode`
// writes is the one VS Code loads, as VS Code itself lists it in Chat: Configure Hooks.

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

/** The rows of Chat: Configure Hooks..., then (when it has hooks) of its Pre-Tool Use page. */
async function configuredHooks(page: Page): Promise<{ events: string[]; preToolUse: string[] }> {
  const pre = page.locator('.quick-input-list .monaco-list-row', { hasText: 'Pre-Tool Use' }).first();
  // On a loaded machine the first run of the command can miss the click while Copilot Chat activates: try again.
  for (let attempt = 1; ; attempt++) {
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    await input.fill('>Chat: Configure Hooks');
    const command = page.locator('.quick-input-list .monaco-list-row', { hasText: 'Configure Hooks' }).first();
    await command.waitFor({ state: 'visible', timeout: 20_000 });
    await command.click();
    try {
      await pre.waitFor({ state: 'visible', timeout: 20_000 });
      break;
    } catch (e) {
      if (attempt === 3) throw e;
      await page.keyboard.press('Escape');
    }
  }
  const events = await page.locator('.quick-input-list .monaco-list-row').allInnerTexts();
  if (!events.some((r) => r.startsWith('Pre-Tool Use ('))) {
    await page.keyboard.press('Escape');
    return { events, preToolUse: [] };
  }
  await pre.click();
  await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Add new hook' }).waitFor({ state: 'visible', timeout: 10_000 });
  const preToolUse = await page.locator('.quick-input-list .monaco-list-row').allInnerTexts();
  await page.keyboard.press('Escape');
  return { events, preToolUse };
}

test(`R-AGT-3, R-AGT-4: VS Code ${LATEST_BUILD.vscode} loads the hook file setup vscode writes: its own Configure Hooks lists our guard`, async () => {
  const ws = tempDir();
  const home = tempDir();
  cleanup.push(ws.remove, home.remove);
  const cs = await startCodeServer({ build: LATEST_BUILD, workspace: ws.path });
  cleanup.push(() => cs.stop());
  const wb = await openWorkbench(cs.url, ws.path);
  cleanup.push(() => wb.close());
  // Before setup: no hook of ours (the check can fail).
  const before = await configuredHooks(wb.page);
  assert.ok(
    before.events.some((r) => /^Pre-Tool Use(?! \()/.test(r)),
    `no pre-tool hooks yet: ${JSON.stringify(before.events)}`,
  );
  assert.equal(
    before.preToolUse.some((r) => r.includes(' hook vscode')),
    false,
  );

  const setup = await runCliWith(['setup', 'vscode', '--workspace', ws.path], cliEnv(home.path));
  assert.equal(setup.code, 0, setup.stderr);
  await wb.page.reload();
  await wb.page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 30_000 });
  const afterSetup = await configuredHooks(wb.page);
  assert.ok(
    afterSetup.events.some((r) => r.startsWith('Pre-Tool Use (1)')),
    JSON.stringify(afterSetup.events),
  );
  assert.ok(
    afterSetup.events.some((r) => r.startsWith('Session End (1)')),
    JSON.stringify(afterSetup.events),
  );
  const ours = afterSetup.preToolUse.find((r) => r.includes(' hook vscode'));
  assert.ok(ours, JSON.stringify(afterSetup.preToolUse));
  assert.match(ours, /dist\/cli\.js" hook vscode --workspace ".+"/);
  assert.match(ours, /\.github\/hooks\/session-coordinator\.json/, 'read from the file setup wrote');
});
