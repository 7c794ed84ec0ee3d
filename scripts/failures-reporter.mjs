// A second reporter for scripts/test.mjs: one JSON line per failed test (not per suite that failed because a test in
// it did), so that the run can end with every batch's failures and their reasons in one place. CI keeps only the
// tail of the output, and the spec reporter's own summary of the first batch is far above it.
export default async function* failuresReporter(source) {
  for await (const event of source) {
    if (event.type !== 'test:fail' || event.data.details?.type === 'suite') continue;
    const error = event.data.details?.error;
    // The runner wraps what the test threw in ERR_TEST_FAILURE; its cause is the assertion or error itself.
    const thrown = error?.cause ?? error;
    yield `${JSON.stringify({ file: event.data.file, name: event.data.name, error: String(thrown?.stack ?? thrown) })}\n`;
  }
}
