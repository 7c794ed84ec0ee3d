/**
 * Generic throughput measurement, shared by every bench suite.
 *
 * `measure` takes a list of named operations and, for each one:
 *   1. warms it up (JIT, caches, lazy key objects) for at least `warmupMs` AND
 *      at least `warmupOps` calls (V8 tiers code up by call counts, not time:
 *      a 0.7 ms handshake is still speeding up after 300 calls), capped at
 *      5 x `warmupMs`; the warm-up rate then sets a batch size so the clock is
 *      read about once per millisecond rather than once per call;
 *   2. times it in `runs` time-boxed runs of about `runMs` each, counting
 *      completed operations between two process.hrtime.bigint() readings.
 *
 * Runs are interleaved round-robin (run 1 of every case, then run 2 of every
 * case, ...), with the order rotated each round, so run i of two cases was
 * taken within a few seconds of each other. Ratios between cases are therefore
 * taken run by run ("in the same run") with `ratioOf`, and a burst of noise
 * from a neighbour on a shared machine hits numerator and denominator alike.
 *
 * An operation may return a promise (network round trips, later suites): it is
 * then awaited before the next call. A synchronous operation is never awaited,
 * so it pays no microtask cost.
 */

export type Operation = () => unknown;

export interface Case {
  name: string;
  op: Operation;
}

export interface MeasureOptions {
  /** Timed runs per case (the median of these is reported). */
  runs: number;
  /** Length of one timed run, in milliseconds. */
  runMs: number;
  /** Minimum warm-up per case before the first run, in milliseconds. */
  warmupMs: number;
  /** Minimum warm-up calls per case (bounded by 5 x warmupMs). */
  warmupOps: number;
  /** Progress lines (stderr in practice); never stdout. */
  log?: (line: string) => void;
}

/** A figure in operations per second (or a dimensionless ratio). */
export interface Figure {
  median: number;
  min: number;
  max: number;
  /** (max - min) / median: above ~0.15 the machine was too noisy to trust small differences. */
  spread: number;
  runs: number[];
  /**
   * Lowest share, over the runs, of wall time during which this process was on
   * a CPU (process.cpuUsage / hrtime). Near 1 (GC threads can push it above)
   * means the run had the CPU; below ~0.9 a neighbour took it, and that run's
   * rate is low for reasons unrelated to the code. Absent on ratios.
   */
  cpuShare?: number;
}

/** Keeps results alive so no call can be optimised away. */
let sink: unknown;
export function blackhole(): unknown {
  return sink;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

function median(sorted: readonly number[]): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const mid = Math.floor(n / 2);
  const hi = sorted[mid] ?? Number.NaN;
  if (n % 2 === 1) return hi;
  const lo = sorted[mid - 1] ?? Number.NaN;
  return (lo + hi) / 2;
}

/** Median, min, max and spread of a list of per-run values. */
export function summarize(values: readonly number[]): Figure {
  const sorted = [...values].sort((a, b) => a - b);
  const med = median(sorted);
  const min = sorted[0] ?? Number.NaN;
  const max = sorted[sorted.length - 1] ?? Number.NaN;
  return { median: med, min, max, spread: med > 0 ? (max - min) / med : Number.NaN, runs: [...values] };
}

/** Per-run ratio of two figures measured by the same `measure` call (run i against run i). */
export function ratioOf(numerator: Figure, denominator: Figure): Figure {
  if (numerator.runs.length !== denominator.runs.length) throw new RangeError('ratioOf needs figures with the same number of runs');
  return summarize(numerator.runs.map((v, i) => v / (denominator.runs[i] ?? Number.NaN)));
}

/** Combines per-run figures into another per-run figure (e.g. an ideal rate from its crypto costs). */
export function combine(figures: readonly Figure[], f: (values: number[]) => number): Figure {
  const n = figures[0]?.runs.length ?? 0;
  if (figures.some((x) => x.runs.length !== n)) throw new RangeError('combine needs figures with the same number of runs');
  return summarize(Array.from({ length: n }, (_, i) => f(figures.map((x) => x.runs[i] ?? Number.NaN))));
}

interface Prepared {
  name: string;
  op: Operation;
  async: boolean;
  batch: number;
  runs: number[];
  cpuShares: number[];
}

interface Timed {
  rate: number;
  cpuShare: number;
}

const toNs = (ms: number): bigint => BigInt(Math.max(1, Math.round(ms * 1e6)));

/**
 * Calls `op` for about `ms` milliseconds (and at least `minOps` times, unless
 * `capMs` runs out first), `batch` calls between clock readings; returns
 * operations per second.
 */
async function timeBox(op: Operation, async: boolean, batch: number, ms: number, minOps = 0, capMs = ms): Promise<Timed> {
  const budget = toNs(ms);
  const cap = toNs(Math.max(ms, capMs));
  let ops = 0;
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  let now = start;
  do {
    if (async) {
      for (let i = 0; i < batch; i++) sink = await op();
    } else {
      for (let i = 0; i < batch; i++) sink = op();
    }
    ops += batch;
    now = process.hrtime.bigint();
  } while ((now - start < budget || ops < minOps) && now - start < cap);
  const used = process.cpuUsage(cpu);
  const seconds = Number(now - start) / 1e9;
  return { rate: ops / seconds, cpuShare: (used.user + used.system) / 1e6 / seconds };
}

export async function measure(cases: readonly Case[], options: MeasureOptions): Promise<Record<string, Figure>> {
  const { runs, runMs, warmupMs, warmupOps } = options;
  const log = options.log ?? (() => {});
  if (!Number.isInteger(runs) || runs < 1) throw new RangeError(`runs must be a positive integer, got ${runs}`);
  const names = new Set<string>();
  for (const c of cases) {
    if (names.has(c.name)) throw new Error(`duplicate case name ${c.name}`);
    names.add(c.name);
  }

  const prepared: Prepared[] = [];
  for (const c of cases) {
    // The first call also tells whether the operation is asynchronous.
    const first = c.op();
    const async = isThenable(first);
    if (async) sink = await first;
    const { rate } = await timeBox(c.op, async, 1, warmupMs, warmupOps, 5 * warmupMs);
    const batch = Math.max(1, Math.floor(rate / 1000));
    prepared.push({ name: c.name, op: c.op, async, batch, runs: [], cpuShares: [] });
    log(`  warm-up ${c.name}: ~${Math.round(rate)}/s (batch ${batch})`);
  }

  for (let round = 0; round < runs; round++) {
    for (let k = 0; k < prepared.length; k++) {
      const p = prepared[(k + round) % prepared.length]!;
      const timed = await timeBox(p.op, p.async, p.batch, runMs);
      p.runs.push(timed.rate);
      p.cpuShares.push(timed.cpuShare);
    }
    log(`  run ${round + 1}/${runs} done`);
  }

  const out: Record<string, Figure> = {};
  for (const p of prepared) out[p.name] = { ...summarize(p.runs), cpuShare: Math.min(...p.cpuShares) };
  return out;
}

/** A named group of figures; bench/main.ts runs each suite and puts its result under its name. */
export interface Suite {
  name: string;
  run(options: MeasureOptions): Promise<unknown>;
}
