/**
 * Counters, gauges and latency histograms, read together through one
 * snapshot (R-OBS-2). Histograms keep a bounded window of recent samples so
 * percentiles follow the present, not the whole history.
 */
export class Counter {
  private n = 0;
  inc(by = 1): void {
    this.n += by;
  }
  get value(): number {
    return this.n;
  }
}

export class Histogram {
  private readonly samples: Float64Array;
  private next = 0;
  private filled = 0;
  private total = 0;

  constructor(window = 2048) {
    this.samples = new Float64Array(window);
  }

  record(value: number): void {
    this.samples[this.next] = value;
    this.next = (this.next + 1) % this.samples.length;
    if (this.filled < this.samples.length) this.filled++;
    this.total++;
  }

  get count(): number {
    return this.total;
  }

  percentile(p: number): number {
    if (this.filled === 0) return 0;
    const sorted = Array.from(this.samples.subarray(0, this.filled)).sort((a, b) => a - b);
    const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
    return sorted[Math.max(0, index)] ?? 0;
  }

  summary(): HistogramSummary {
    return { count: this.total, p50: round(this.percentile(50)), p99: round(this.percentile(99)) };
  }
}

export interface HistogramSummary {
  count: number;
  p50: number;
  p99: number;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

export type MetricValue = number | HistogramSummary;

/** Named metrics; gauges are read lazily from their owner at snapshot time. */
export class Metrics {
  private readonly counters = new Map<string, Counter>();
  private readonly histograms = new Map<string, Histogram>();
  private readonly gauges = new Map<string, () => number>();

  counter(name: string): Counter {
    let c = this.counters.get(name);
    if (!c) this.counters.set(name, (c = new Counter()));
    return c;
  }

  histogram(name: string): Histogram {
    let h = this.histograms.get(name);
    if (!h) this.histograms.set(name, (h = new Histogram()));
    return h;
  }

  gauge(name: string, read: () => number): void {
    this.gauges.set(name, read);
  }

  snapshot(): Record<string, MetricValue> {
    const out: Record<string, MetricValue> = {};
    for (const [k, c] of this.counters) out[k] = c.value;
    for (const [k, read] of this.gauges) out[k] = read();
    for (const [k, h] of this.histograms) out[k] = h.summary();
    return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
  }
}
