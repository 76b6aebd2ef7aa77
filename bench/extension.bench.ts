// Extension figures, in a real VS Code (code-server, the minimum build unless
// BENCH_VSCODE_BUILD says otherwise), against baselines measured in the same run:
//  - activation: our extension against an EMPTY extension, both installed from
//    a .vsix and activated in the same extension host (median of several starts);
//  - activation-abs: the same, against 100 ms;
//  - panel-update: a session opening to its row in the Session Health panel,
//    seen in the browser by a MutationObserver in the webview (p99 of 50);
//  - vsix-size: the packaged .vsix against 1.5 MB.
// Prints one `BENCH ...` line per figure and writes its figures as JSON
// (BENCH_RESULTS, else bench/results.json), like the other entry points.
// Runs under tsx, not bundled (playwright-core and the harness load files
// relative to themselves): `node --import tsx bench/extension.bench.ts [figure ...]`.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO } from '../scripts/vscode/builds.mjs';
import { openWorkbench, type Workbench } from '../test/vscode/harness/browser.js';
import { MIN_BUILD, resolveBuild, startCodeServer, type CodeServerHandle } from '../test/vscode/harness/codeServer.js';
import {
  clockOffset,
  connectHttpAgent,
  ensureVsix,
  installRowWatcher,
  openHealthPanel,
  waitForRowSeen,
  waitForWindowEndpoint,
  wallNow,
  type Agent,
} from '../test/vscode/harness/sessionPanel.js';
import {
  EMPTY_ID,
  installBoth,
  measureOneStart,
  OUR_ID,
  packageEmptyExtension,
  writeRunner,
  type ActivationStart,
} from './support/extensionActivation.js';
import { figures, MACHINE, report, writeFigures, type Figure } from './support/report.js';
import { median, quantile, sig } from './support/stats.js';

const BUILD = resolveBuild(process.env.BENCH_VSCODE_BUILD ?? MIN_BUILD.codeServer);
const ACTIVATION_STARTS = Math.max(3, Number(process.env.BENCH_ACTIVATION_STARTS) || 3);
const PANEL_SESSIONS = Math.max(10, Number(process.env.BENCH_PANEL_SESSIONS) || 50);
const VSIX_BASELINE = 1_572_864;
const ms = (n: number): string => `${sig(n, 3)} ms`;
const sleep = (n: number): Promise<void> => new Promise((r) => setTimeout(r, n));

const tempDirs: string[] = [];
function tempDir(prefix: string): string {
  const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), prefix)));
  tempDirs.push(dir);
  return dir;
}

function workspace(): string {
  const ws = tempDir('sc-bench-ext-ws-');
  mkdirSync(path.join(ws, 'src'));
  writeFileSync(path.join(ws, 'src', 'app.ts'), 'export const answer = 42;\n');
  return ws;
}

// ---------------------------------------------------------------- activation

async function activation(vsix: string): Promise<void> {
  const dir = tempDir('sc-bench-activation-');
  const emptyVsix = packageEmptyExtension(dir);
  const extensionsDir = await installBoth(BUILD, dir, vsix, emptyVsix);
  const runner = writeRunner(dir);
  const start = (order: string[]): Promise<ActivationStart> =>
    measureOneStart({ build: BUILD, workspace: workspace(), home: tempDir('sc-bench-activation-home-'), extensionsDir, runner, order });
  const samples: Record<string, number[]> = { [OUR_ID]: [], [EMPTY_ID]: [] };
  let voided = 0;
  // One extension per start, so each is the first activation of a fresh extension host (the first one
  // in a host pays ~15 ms more, and one activated right after ours would wait on ours' start-up work);
  // alternating which side starts first, so drift hits both alike.
  for (let i = 0; i < ACTIVATION_STARTS; i++) {
    for (const id of i % 2 === 0 ? [OUR_ID, EMPTY_ID] : [EMPTY_ID, OUR_ID]) {
      const [sample] = (await start([id])).samples;
      if (sample!.wasActive) voided++;
      else samples[id]!.push(sample!.ms);
      console.error(
        `  activation start ${i + 1}/${ACTIVATION_STARTS}: ${id === OUR_ID ? 'ours' : 'empty'} ${ms(sample!.ms)}${sample!.wasActive ? ' (ALREADY ACTIVE: void)' : ''}`,
      );
    }
  }
  // Diagnostics only: how much of ours is loading the bundle (require) and how much is activate().
  const split = (await start([`load:${OUR_ID}`, OUR_ID])).samples;
  const ours = samples[OUR_ID]!;
  const empty = samples[EMPTY_ID]!;
  const oursMedian = median(ours);
  const emptyMedian = median(empty);
  const how =
    `ext.activate() timed with performance.now() by an extension-host suite in VS Code ${BUILD.vscode} (code-server ${BUILD.codeServer}), ` +
    `from the call to the promise resolving: loading the code, activate(), and the promise it returns (ours: the coordinator, its store and its HTTP endpoint started); ` +
    `both installed from .vsix, without activation events (ours: onStartupFinished taken out of the installed manifest, nothing else changed), ` +
    `each alone in a fresh extension host, 2 s after it started; median of ${ACTIVATION_STARTS} starts per side; ` +
    `ours ${ours.map((x) => sig(x, 3)).join('/')} ms, empty ${empty.map((x) => sig(x, 3)).join('/')} ms; ` +
    `split (one more start): require() of dist/extension.js ${ms(split[0]!.ms)}, then activate() ${ms(split[1]!.ms)}` +
    (voided ? `; ${voided} SAMPLE(S) VOID (already active before the call)` : '');
  report('activation', oursMedian, emptyMedian, 'ms', { op: '<=', limit: 3 }, how, voided === 0);
  report(
    'activation-abs',
    oursMedian,
    100,
    'ms',
    { op: '<=', limit: 1 },
    'our median activation (see activation) against 100 ms',
    voided === 0,
  );
}

// ---------------------------------------------------------------- panel-update

async function panelUpdate(vsix: string): Promise<void> {
  const ws = workspace();
  const home = tempDir('sc-bench-panel-home-');
  let server: CodeServerHandle | undefined;
  let wb: Workbench | undefined;
  const agents: Agent[] = [];
  try {
    server = await startCodeServer({ build: BUILD, workspace: ws, vsix, env: { SESSION_COORDINATOR_HOME: home }, smokeTestDriver: false });
    wb = await openWorkbench(server.url, ws);
    const endpoint = await waitForWindowEndpoint(home);
    const frame = await openHealthPanel(wb.page);
    await installRowWatcher(frame);
    const { offset, uncertainty } = await clockOffset(frame);
    const fromResolved: number[] = [];
    const fromStart: number[] = [];
    for (let i = 0; i < PANEL_SESSIONS; i++) {
      // Spread the openings over the panel's 1 s refresh tick.
      await sleep(Math.floor(Math.random() * 200));
      const started = wallNow();
      const agent = await connectHttpAgent(endpoint, `bench-session-${i}`);
      agents.push(agent);
      const seen = (await waitForRowSeen(frame, agent.name, { timeoutMs: 10_000, pollMs: 5 })) - offset;
      fromResolved.push(seen - agent.connectedAt);
      fromStart.push(seen - started);
    }
    const p99 = quantile(fromResolved, 0.99);
    report(
      'panel-update',
      p99,
      250,
      'ms',
      { op: '<=', limit: 1 },
      `${PANEL_SESSIONS} HTTP sessions opened one after another (all kept open: the table grows to ${PANEL_SESSIONS} rows) in VS Code ${BUILD.vscode}; ` +
        `from client.connect() resolving to the row in the webview, stamped by a MutationObserver inside the webview and corrected for the clock offset ` +
        `(${sig(offset, 2)} ± ${sig(uncertainty, 2)} ms); p50 ${ms(median(fromResolved))}, p99 ${ms(p99)}, max ${ms(Math.max(...fromResolved))}; ` +
        `from connect() start: p50 ${ms(median(fromStart))}, p99 ${ms(quantile(fromStart, 0.99))} (negative = the row was there before connect() resolved)`,
    );
  } finally {
    for (const a of agents) await a.close();
    await wb?.close();
    await server?.stop();
  }
}

// ---------------------------------------------------------------- vsix-size

function vsixSize(vsix: string): void {
  const bytes = statSync(vsix).size;
  report(
    'vsix-size',
    bytes,
    VSIX_BASELINE,
    'bytes',
    { op: '<=', limit: 1 },
    `${path.relative(REPO, vsix)} as npm run package builds it (${sig(bytes / 1024, 3)} KiB)`,
  );
}

// ---------------------------------------------------------------- main

/** Runs the named figures (all when `only` is empty) and returns them; figures also land in report.ts's list. */
export async function runExtensionBench(only: ReadonlySet<string> = new Set()): Promise<Figure[]> {
  const want = (name: string): boolean => only.size === 0 || only.has(name);
  const first = figures.length;
  if (!['activation', 'activation-abs', 'panel-update', 'vsix-size'].some(want)) return [];
  const vsix = ensureVsix();
  if (want('vsix-size')) vsixSize(vsix);
  if (want('activation') || want('activation-abs')) await activation(vsix);
  if (want('panel-update')) await panelUpdate(vsix);
  return figures.slice(first);
}

function cleanup(): void {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}

if (require.main === module) {
  const started = performance.now();
  console.error(`bench: ${MACHINE}`);
  runExtensionBench(new Set(process.argv.slice(2))).then(
    (done) => {
      const written = writeFigures(process.env.BENCH_REPO ?? REPO);
      console.error(
        `bench: ${done.length} extension figures in ${sig((performance.now() - started) / 1000, 3)} s; wrote ${path.relative(process.cwd(), written)}`,
      );
      cleanup();
      process.exit(0);
    },
    (e: unknown) => {
      console.error(`bench crashed: ${e instanceof Error ? e.stack : String(e)}`);
      cleanup();
      process.exit(1);
    },
  );
}
