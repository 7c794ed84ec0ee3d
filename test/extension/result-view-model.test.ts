// The result view model, tool by tool: what a person reads for each intent (pure functions of its detail, its
// progress and the clock), and the progress log's budget.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BUDGETS } from '../../core/budgets';
import type { ApprovalView } from '../../core/rpc/views';
import { relativeTime } from '../../core/webview/relative-time';
import { ExtensionToWebview, WebviewToExtension } from '../../core/webview/result-messages';
import { ProgressLog } from '../../extension/results/progress-log';
import { problemSentence } from '../../core/rpc/intent-problem';
import { resultView, taskSteps, type ProgressEntry, type ResultInputs, type ResultIntent } from '../../extension/results/result-view-model';
import { intentDetail } from '../support/intent-detail';

const AGENT = `did:vaultys:${'a'.repeat(40)}`;
const ALICE = `did:vaultys:${'1'.repeat(40)}`;
const BOB = `did:vaultys:${'2'.repeat(40)}`;
const NOW = Date.UTC(2026, 11, 5, 12, 0, 0);
const names: Record<string, string> = { [AGENT]: 'builder', [ALICE]: 'alice', [BOB]: 'bob' };

const intent = (over: Partial<ResultIntent>): ResultIntent => ({ ...intentDetail({ params: {}, createdAt: NOW - 2 * 60_000, updatedAt: NOW - 60_000 }), ...over });

const view = (i: ResultIntent, more: Partial<ResultInputs> = {}) => resultView({ intent: i, progress: [], approvals: [], nameOf: (d) => names[d], now: NOW, locale: 'en-US', ...more });

/** An approval request of the intent 'c'.repeat(32), approved by two (a task's model call, self-review allowed). */
const approval = (over: Partial<ApprovalView>): ApprovalView => ({
  requestId: 'd'.repeat(32),
  intentId: 'c'.repeat(32),
  agent: AGENT,
  user: ALICE,
  capability: 'write_file',
  params: { path: 'b.txt', content: 'hi', mode: 'create' },
  cwd: '/w',
  requestedAt: NOW,
  expiresAt: NOW + 60_000,
  state: 'approved',
  decidedBy: BOB,
  reason: null,
  decidedAt: NOW,
  paramsTruncated: false,
  reviewersRequired: 2,
  approvals: [
    { reviewer: BOB, decidedAt: NOW, selfReview: false },
    { reviewer: ALICE, decidedAt: NOW, selfReview: true },
  ],
  modelCall: true,
  ...over,
});

describe('result view model', () => {
  test('read_file: the content as text for a document, not a JSON string; times local and relative', () => {
    const content = 'line "one"\n\tline two\n';
    const v = view(intent({ params: { path: 'docs/README.md' }, output: { content, bytes: 2500, truncated: false } }));
    assert.equal(v.title, 'read_file docs/README.md');
    assert.deepEqual(v.body, { kind: 'file', path: 'docs/README.md', size: '2.4 KiB', truncated: false, lineCount: 3, content });
    assert.equal(v.created.relative, '2 minutes ago');
    assert.equal(v.updated.relative, '1 minute ago');
    assert.match(v.created.local, /Dec 5, 2026/);
    assert.deepEqual({ agent: v.agent.name, requester: v.requester.name, live: v.live, problem: v.problem }, { agent: 'builder', requester: 'alice', live: false, problem: null });
  });

  test('list_files: a table of name, type and size', () => {
    const output = { entries: [{ name: 'a.txt', type: 'file', size: 12 }, { name: 'lib', type: 'directory', size: null }, { name: 'two', type: 'file', size: null, hardLinked: true }], truncated: true };
    const v = view(intent({ capability: 'list_files', params: { path: '.' }, output }));
    assert.deepEqual(v.body, {
      kind: 'listing',
      path: '.',
      rows: [
        { name: 'a.txt', type: 'file', size: '12 B' },
        { name: 'lib', type: 'directory', size: '' },
        { name: 'two', type: 'file (hard-linked)', size: '—' },
      ],
      truncated: true,
    });
  });

  test('run_command: stdout and stderr as text, exit code and duration; while it runs, what streamed so far', () => {
    const params = { command: 'ls', args: ['-la', 'my dir'], cwd: '.', timeoutMs: 5000 };
    const output = { exitCode: 2, signal: null, stdout: 'a\nb\n', stderr: 'ls: no such file\n', stdoutTruncated: false, stderrTruncated: true, timedOut: false, aborted: false, stoppedBy: null, limit: null, limitMessage: null, durationMs: 1530 };
    const v = view(intent({ capability: 'run_command', params, output }));
    assert.equal(v.title, "run_command ls -la 'my dir'");
    assert.deepEqual(v.body, {
      kind: 'command',
      commandLine: "ls -la 'my dir'",
      cwd: '.',
      exit: 'exit code 2',
      duration: '1.5 s',
      stdout: 'a\nb\n',
      stderr: 'ls: no such file\n',
      notes: ['stderr was cut: the agent keeps at most 64 KiB of each stream.'],
    });
    const progress: ProgressEntry[] = [
      { seq: 2, stream: 'stdout', text: 'b\n' },
      { seq: 1, stream: 'stdout', text: 'a\n' },
      { seq: 3, stream: 'stderr', text: 'warn\n' },
      { seq: 1, stream: 'stdout', text: 'a\n' },
    ];
    const live = view(intent({ capability: 'run_command', params, state: 'running', outcome: null }), { progress });
    assert.equal(live.live, true);
    assert.deepEqual(live.body, { kind: 'command', commandLine: "ls -la 'my dir'", cwd: '.', exit: null, duration: null, stdout: 'a\nb\n', stderr: 'warn\n', notes: [] });
    const killed = view(intent({ capability: 'run_command', params, output: { ...output, exitCode: null, signal: 'SIGKILL', timedOut: true, stderrTruncated: false, durationMs: 125_000 } }));
    assert.equal(killed.body.kind === 'command' && killed.body.exit, 'ended by signal SIGKILL');
    assert.equal(killed.body.kind === 'command' && killed.body.duration, '2 min 5 s');
    assert.deepEqual(killed.body.kind === 'command' && killed.body.notes, ['It was stopped: it ran past its time limit.']);
  });

  test('write_file and http_fetch: what was written; status, headers and body as text', () => {
    const w = view(intent({ capability: 'write_file', params: { path: 'out.txt', content: 'x', mode: 'create' }, output: { bytesWritten: 1, path: 'out.txt' } }));
    assert.deepEqual(w.body, { kind: 'write', path: 'out.txt', size: '1 B', mode: 'created (it did not exist)' });
    const h = view(
      intent({
        capability: 'http_fetch',
        params: { method: 'GET', url: 'https://example.com/a', timeoutMs: 1000 },
        output: { status: 404, headers: { 'content-type': 'text/plain' }, body: 'not\nfound', encoding: 'utf8', bodyBytes: 9, truncated: false, durationMs: 42 },
      }),
    );
    assert.equal(h.title, 'http_fetch GET https://example.com/a');
    assert.deepEqual(h.body, { kind: 'http', request: 'GET https://example.com/a', status: '404', headers: [{ name: 'content-type', value: 'text/plain' }], body: 'not\nfound', notes: ['Answered in 42 ms.'] });
  });

  test('a write paused for a reviewer says so, not that the agent has yet to start it; once decided it reads as running', () => {
    const write = intent({ id: 'c'.repeat(32), capability: 'write_file', params: { path: 'b.txt', content: 'hi', mode: 'create' }, state: 'sent', output: null });
    const pending = approval({ state: 'pending', decidedBy: null, decidedAt: null, approvals: [], modelCall: false, reviewersRequired: 1 });
    assert.deepEqual(view(write, { approvals: [pending] }).body, { kind: 'none', text: 'Paused on the agent: waiting for a reviewer (the Approvals view has the request)…' });
    assert.deepEqual(view(write).body, { kind: 'none', text: 'Sent; waiting for the agent to start it…' });
    assert.deepEqual(view({ ...write, state: 'running' }, { approvals: [approval({})] }).body, { kind: 'none', text: 'Running on the agent…' });
  });

  test('an output of an unknown shape is shown as indented JSON, not half-read', () => {
    const v = view(intent({ params: { path: 'x' }, output: { content: 7 } }));
    assert.deepEqual(v.body, { kind: 'raw', text: '{\n  "content": 7\n}' });
  });

  test('llm_task: steps from the progress stream, the model\'s words, each tool call with its result and who approved it', () => {
    const progress: ProgressEntry[] = [
      { seq: 0, stream: 'status', text: 'step 1: asking the model\n' },
      { seq: 1, stream: 'status', text: 'step 1: the model used 120 tokens\n' },
      { seq: 2, stream: 'stdout', text: 'I will read the file first.\n' },
      // Two status lines joined in one notification, as the agent's batcher sends them.
      { seq: 3, stream: 'status', text: 'tool read_file {"path":"a.txt"} → done\ntool run_command {"command":"rm","args":["-rf","x"],"cwd":".","timeoutMs":1000} → refused (approval-rejected): bob rejected the call\n' },
      { seq: 4, stream: 'status', text: 'tool write_file {"path":"b.txt","content":"hi","mode":"create"} → done\n' },
      { seq: 5, stream: 'status', text: 'step 2: asking the model\n' },
      { seq: 6, stream: 'stdout', text: 'Done: a.txt says hi.\n' },
    ];
    const approvals = [approval({}), approval({ requestId: 'e'.repeat(32), capability: 'run_command', params: { command: 'rm' }, state: 'rejected', approvals: [] })];
    const steps = taskSteps(progress, approvals, (d) => names[d]);
    assert.deepEqual(steps, [
      {
        step: 1,
        texts: ['I will read the file first.'],
        tokens: 120,
        calls: [
          { tool: 'read_file', args: '{"path":"a.txt"}', result: 'done', approvedBy: [] },
          { tool: 'run_command', args: '{"command":"rm","args":["-rf","x"],"cwd":".","timeoutMs":1000}', result: 'refused: bob rejected the call.', approvedBy: [] },
          { tool: 'write_file', args: '{"path":"b.txt","content":"hi","mode":"create"}', result: 'done', approvedBy: ['bob', 'alice'] },
        ],
      },
      { step: 2, texts: ['Done: a.txt says hi.'], tokens: null, calls: [] },
    ]);
    const v = view(intent({ capability: 'llm_task', params: { instruction: 'Summarise a.txt', tools: ['read_file'] }, output: { text: 'Done: a.txt says hi.', truncated: false, steps: 2, toolCalls: 3 } }), { progress, approvals });
    assert.equal(v.body.kind, 'task');
    assert.equal(v.body.kind === 'task' && v.body.finalText, 'Done: a.txt says hi.');
    assert.equal(v.body.kind === 'task' && v.body.steps.length, 2);
    // Opened after the run, in a window that did not see its progress: says so, and still shows the answer.
    const late = view(intent({ capability: 'llm_task', params: { instruction: 'x' }, output: { text: 'ok', truncated: false, steps: 2, toolCalls: 1 } }));
    assert.deepEqual(late.body.kind === 'task' && late.body.notes, ['2 steps and 1 tool call: their details are shown while a task runs, and this window did not see it run.']);
  });

  test('rejections read as sentences made of the message, never the code', () => {
    assert.equal(problemSentence({ state: 'rejected', rejectedBy: 'agent', reason: 'path-escape', message: '"../x" leads outside the workspace root' }), 'The agent refused it: "../x" leads outside the workspace root.');
    assert.equal(problemSentence({ state: 'rejected', rejectedBy: 'broker', reason: 'capability-not-granted', message: 'write_file is not granted to builder.' }), 'The broker refused to send it: write_file is not granted to builder.');
    assert.equal(problemSentence({ state: 'rejected', rejectedBy: 'agent', reason: 'rate-limited', message: null }), 'The agent refused it: rate limited.');
    assert.equal(problemSentence({ state: 'failed', rejectedBy: null, reason: null, message: 'sandbox unavailable' }), 'It failed: sandbox unavailable.');
    assert.equal(problemSentence({ state: 'lost-agent', rejectedBy: null, reason: null, message: null }), 'The agent went offline before it answered.');
    assert.equal(problemSentence({ state: 'running', rejectedBy: null, reason: null, message: null }), null);
    const v = view(intent({ state: 'rejected', outcome: 'rejected', rejectedBy: 'agent', reason: 'path-escape', message: 'nope', params: { path: '../x' } }));
    assert.equal(v.problem, 'The agent refused it: nope.');
    assert.deepEqual(v.body, { kind: 'none', text: 'There is no output.' });
  });

  test('relative times follow the locale and the clock', () => {
    assert.equal(relativeTime(NOW - 2 * 60_000, NOW, 'en-US'), '2 minutes ago');
    assert.equal(relativeTime(NOW - 2 * 60_000, NOW, 'de'), 'vor 2 Minuten');
    assert.equal(relativeTime(NOW + 5000, NOW, 'en-US'), 'in 5 seconds');
    assert.equal(relativeTime(NOW - 3 * 3600_000, NOW, 'fr'), 'il y a 3 heures');
    assert.equal(relativeTime(NOW, NOW, 'not a locale!'), 'now', 'an unusable locale falls back to English');
  });

  test('the webview messages are checked both ways', () => {
    assert.equal(WebviewToExtension.safeParse({ type: 'verify' }).success, true);
    assert.equal(WebviewToExtension.safeParse({ type: 'verify', extra: 1 }).success, false);
    assert.equal(WebviewToExtension.safeParse({ type: 'run', command: 'rm' }).success, false);
    const v = view(intent({ params: { path: 'a' }, output: { content: 'x', bytes: 1, truncated: false } }));
    assert.equal(ExtensionToWebview.safeParse({ type: 'view', view: v }).success, true);
    assert.equal(ExtensionToWebview.safeParse({ type: 'view', view: { ...v, body: { kind: 'file' } } }).success, false);
    assert.equal(ExtensionToWebview.safeParse({ type: 'notice', text: 'gone' }).success, true);
    assert.equal(ExtensionToWebview.safeParse({ type: 'notice', text: 7 }).success, false);
  });
});

describe('progress log', () => {
  test(`keeps BUDGETS.resultProgressBytes of an intent's progress: at the bound all of it, one byte more drops the oldest`, () => {
    const limit = BUDGETS.resultProgressBytes.limit;
    const id = 'f'.repeat(32);
    const log = new ProgressLog();
    const chunk = 64 * 1024;
    const seen: string[] = [];
    log.onDidAdd((i) => seen.push(i));
    for (let seq = 0; seq < limit / chunk; seq++) log.add({ intentId: id, seq, stream: 'stdout', text: 'x'.repeat(chunk) });
    assert.equal(log.bytes(id), limit);
    assert.equal(log.dropped(id), false);
    assert.equal(log.entries(id).length, limit / chunk);
    log.add({ intentId: id, seq: 1000, stream: 'stderr', text: 'y' });
    assert.equal(log.dropped(id), true, 'bound + 1 byte: the oldest text goes');
    assert.equal(log.bytes(id), limit - chunk + 1);
    assert.equal(log.entries(id)[0]!.seq, 1);
    assert.equal(seen.length, limit / chunk + 1);
    // A repeated seq is kept once.
    log.add({ intentId: id, seq: 1000, stream: 'stderr', text: 'y' });
    assert.equal(log.bytes(id), limit - chunk + 1);
    const dropped = resultView({ intent: intent({ id, capability: 'run_command', params: { command: 'yes', args: [], cwd: '.' }, state: 'running' }), progress: log.entries(id), progressDropped: log.dropped(id), approvals: [], nameOf: () => undefined, now: NOW, locale: 'en' });
    assert.deepEqual(dropped.body.kind === 'command' && dropped.body.notes, ["The earliest progress was dropped: this window keeps the last 512 KiB of an intent's progress."]);
  });

  test('a listener that throws does not stop the others', () => {
    const log = new ProgressLog();
    const seen: string[] = [];
    log.onDidAdd(() => {
      throw new Error('boom');
    });
    log.onDidAdd((i) => seen.push(i));
    log.add({ intentId: 'a'.repeat(32), seq: 0, stream: 'stdout', text: 'x' });
    assert.deepEqual(seen, ['a'.repeat(32)]);
  });
});
