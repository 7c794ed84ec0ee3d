import fc from 'fast-check';

/**
 * How much each fuzz property tries. `npm test` runs a short, time-bounded
 * pass; a long run sets VAULTYSCLAW_FUZZ_RUNS (inputs per property, e.g.
 * 100000) and may pin VAULTYSCLAW_FUZZ_SEED to replay a failure:
 *
 *   VAULTYSCLAW_FUZZ_RUNS=100000 npm run test:only -- test/fault/
 *
 * fast-check prints the seed and the shrunk counterexample of a failure.
 */
export function fuzzParameters(ciRuns: number, ciTimeLimitMs: number): fc.Parameters<unknown> {
  const long = Number(process.env.VAULTYSCLAW_FUZZ_RUNS);
  const seed = Number(process.env.VAULTYSCLAW_FUZZ_SEED);
  return {
    numRuns: Number.isSafeInteger(long) && long > 0 ? long : ciRuns,
    // The CI pass stops early rather than blow the suite's budget on a slow machine; a long run has no limit.
    ...(Number.isSafeInteger(long) && long > 0 ? {} : { interruptAfterTimeLimit: ciTimeLimitMs, markInterruptAsFailure: false }),
    ...(Number.isSafeInteger(seed) ? { seed } : {}),
  };
}

/** The same knob for the socket and kill runs, which count rounds rather than inputs. */
export function roundsFor(ciRounds: number): number {
  const long = Number(process.env.VAULTYSCLAW_FUZZ_RUNS);
  return Number.isSafeInteger(long) && long > 0 ? Math.max(ciRounds, Math.ceil(long / 100)) : ciRounds;
}

/** Inputs tried, per decoder, for the report each fuzz file prints when it ends. */
export class InputCounter {
  readonly #counts = new Map<string, number>();
  readonly #reasons = new Map<string, Map<string, number>>();

  count(decoder: string): void {
    this.#counts.set(decoder, (this.#counts.get(decoder) ?? 0) + 1);
  }

  /** How an input of `decoder` ended, so the report shows how deep the inputs went. */
  outcome(decoder: string, reason: string): void {
    const reasons = this.#reasons.get(decoder) ?? new Map<string, number>();
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    this.#reasons.set(decoder, reasons);
  }

  get total(): number {
    return [...this.#counts.values()].reduce((a, b) => a + b, 0);
  }

  report(title: string): string {
    const lines = [...this.#counts].map(([k, n]) => {
      const reasons = [...(this.#reasons.get(k) ?? [])].sort((a, b) => b[1] - a[1]).map(([r, m]) => `${r} ${m}`);
      return `  ${k}: ${n}${reasons.length ? ` (${reasons.join(', ')})` : ''}`;
    });
    return `${title}: ${this.total} inputs\n${lines.join('\n')}`;
  }
}
