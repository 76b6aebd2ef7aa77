// The figures of one bench entry point: one `BENCH ...` line per figure on
// stdout, a note on stderr, and the list that is written as JSON at the end
// (scripts/bench.mjs merges the files of its entry points into bench/results.json).
import { writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { sig } from './stats.js';

export interface Target {
  op: '<=' | '>=';
  limit: number;
}

export interface Figure {
  name: string;
  value: number;
  baseline: number;
  ratio: number;
  target: string;
  unit: string;
  ok: boolean;
  notes: string;
}

export const figures: Figure[] = [];
export const MACHINE = `node ${process.version}, ${os.cpus().length} CPUs, load average ${os.loadavg()[0]!.toFixed(2)} at start`;

export function report(
  name: string,
  value: number,
  baseline: number,
  unit: string,
  target: Target | undefined,
  notes: string,
  extraOk = true,
): void {
  const ratio = value / baseline;
  const within = target === undefined ? true : target.op === '<=' ? ratio <= target.limit : ratio >= target.limit;
  const ok = within && extraOk;
  const targetText = target === undefined ? 'none' : `${target.op}${target.limit}`;
  const fig: Figure = {
    name,
    value: sig(value),
    baseline: sig(baseline),
    ratio: sig(ratio, 3),
    target: targetText,
    unit,
    ok,
    notes: `${notes}; ${MACHINE}`,
  };
  figures.push(fig);
  console.log(`BENCH ${name} value=${fig.value} baseline=${fig.baseline} ratio=${fig.ratio} target=${targetText} ${ok ? 'ok' : 'MISS'}`);
  console.error(`  ${name} [${unit}]: ${notes}`);
}

/** Where this entry point writes its figures: BENCH_RESULTS when scripts/bench.mjs runs it, else bench/results.json. */
export function writeFigures(repo: string): string {
  const file = process.env.BENCH_RESULTS ?? path.join(repo, 'bench', 'results.json');
  writeFileSync(file, JSON.stringify(figures, null, 2) + '\n');
  return file;
}

/**
 * Runs one bench entry point: its figures are written when `main` ends, a
 * crash sets a non-zero exit code, and `cleanup` always runs (newest first)
 * before the process exits, so no server or agent is left behind.
 */
export function runEntry(label: string, repo: string, main: () => Promise<void>, cleanup: Array<() => Promise<unknown>>): void {
  main()
    .then(() => {
      const written = writeFigures(repo);
      console.error(`bench${label ? ` (${label})` : ''}: ${figures.length} figures; wrote ${path.relative(process.cwd(), written)}`);
    })
    .catch((e: unknown) => {
      console.error(`bench crashed: ${e instanceof Error ? e.stack : String(e)}`);
      process.exitCode = 1;
    })
    .finally(async () => {
      for (const c of cleanup.reverse()) await c().catch(() => undefined);
      process.exit(process.exitCode ?? 0);
    });
}
