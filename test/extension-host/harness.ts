// A sequential case runner for the extension host (mocha is not among our dependencies, and node:test
// reports only to its own process). Each case has a time bound. The cases build on each other (a broker,
// then an agent, then its intents), so after a failure the rest are reported as not run, which fails the
// suite, instead of each waiting out its bound. Results go to the runner's file after every case.
import { writeResults, type CaseResult } from './run-config';

export interface Case {
  name: string;
  timeoutMs: number;
  body: () => Promise<void>;
}

function bounded(body: () => Promise<void>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([body(), timeout]).finally(() => clearTimeout(timer));
}

/** Runs the cases in order; rejects when any failed, which is how VS Code's test host reports a failure. */
export async function runCases(cases: Case[], resultsFile: string, log: (line: string) => void): Promise<void> {
  const results: CaseResult[] = [];
  writeResults(resultsFile, { total: cases.length, results, complete: false });
  for (const c of cases) {
    const earlier = results.find((r) => !r.ok);
    if (earlier) {
      results.push({ name: c.name, ok: false, ms: 0, error: `not run: "${earlier.name}" failed` });
      continue;
    }
    const started = Date.now();
    try {
      await bounded(c.body, c.timeoutMs);
      results.push({ name: c.name, ok: true, ms: Date.now() - started });
      log(`ok   ${c.name} (${Date.now() - started} ms)`);
    } catch (err) {
      const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
      results.push({ name: c.name, ok: false, ms: Date.now() - started, error });
      log(`FAIL ${c.name}: ${error}`);
    }
    writeResults(resultsFile, { total: cases.length, results, complete: false });
  }
  writeResults(resultsFile, { total: cases.length, results, complete: true });
  const failed = results.filter((r) => !r.ok);
  if (failed.length) throw new Error(`${failed.length} of ${cases.length} extension-host cases failed: ${failed.map((f) => f.name).join('; ')}`);
}
