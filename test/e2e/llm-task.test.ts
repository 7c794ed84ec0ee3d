// End to end: llm_task intents from a real broker process to real agent processes whose model is a
// scripted OpenAI-compatible server on 127.0.0.1 playing recorded tool-calling conversations. Every tool
// call the model makes meets the gates of a direct intent (certificate, the task's own tool subset, the
// user's delegation, the sandbox, a real reviewer's decision); each response's tokens count toward the
// daily budget, which stops a task mid-way; malformed and hanging endpoints end a task with their own
// reason; and the model key reaches nothing but the model endpoint.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { after, before, describe, test } from 'node:test';
import { BUDGETS } from '../../core/budgets';
import { utcDay } from '../../core/policy/utc-day';
import { Notifications } from '../../core/rpc/methods';
import type { IntentSummary } from '../../core/rpc/views';
import { allIntents } from '../attacks/support/fleet';
import { MitmProxy } from '../attacks/support/mitm-proxy';
import { approveAgent, assertBrokerRefused, call, decisionParams, finalIntent, joinAs, ownerOf, pendingApproval, runAs, type Member } from '../attacks/support/team';
import { processesWith } from '../support/host-processes';
import { tempDir, waitFor, type AgentProcess, type BrokerProcess } from '../support/processes';
import { answers, callsTools, ScriptedModel, toolResults, type RecordedRequest } from '../support/scripted-model';
import { exitIfHeldOpen, Started } from '../support/started';

exitIfHeldOpen();

/** Looks like a real key; the suite checks it reaches the model endpoint and nothing else. */
const MODEL_KEY = `sk-vc-test-${'9f3b7c1e5a'.repeat(4)}`;
const FILE_KEY = `sk-vc-file-${'4d2a8e6b0c'.repeat(4)}`;
const CANARY = 'outside the workspace: never read\n';

describe('llm_task end to end', () => {
  const started = new Started();
  let broker: BrokerProcess;
  let model: ScriptedModel;
  let proxy: MitmProxy;
  let owner: Member;
  let bob: Member; // reviewer
  let alice: Member; // operator granted llm_task and read_file only
  /** Reaches the broker through `proxy`, so every byte it sends is recorded; key from the environment. */
  let agent: AgentProcess;
  /** 100 tokens a day; key from a 0600 file. */
  let frugal: AgentProcess;
  let keyDir: string;
  const progress: { intentId: string; stream: string; text: string }[] = [];

  const task = async (who: Member, target: AgentProcess, params: Record<string, unknown>): Promise<IntentSummary> => {
    const sent = await call(who, 'intentsDispatch', { agent: target.did, capability: 'llm_task', params });
    assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
    return sent;
  };
  /** The intent once the agent's signed answer is kept (after a cancel it comes as a late result). */
  const signedAnswer = (id: string) =>
    waitFor('the agent\'s signed answer kept', async () => {
      const d = await call(owner, 'intentsGet', { id });
      return d.signedResult ? d : undefined;
    }, 20_000);
  const runTask = async (who: Member, target: AgentProcess, params: Record<string, unknown>) => finalIntent(who, (await task(who, target, params)).id, 20_000);
  const requestsSince = (n: number): RecordedRequest[] => model.requests.slice(n);

  before(async () => {
    model = await ScriptedModel.start();
    broker = await started.broker();
    proxy = await MitmProxy.start(broker.url);
    owner = ownerOf(broker);
    bob = await joinAs(broker, owner, 'reviewer', 'bob');
    alice = await joinAs(broker, owner, 'operator', 'alice');
    await call(owner, 'grantsCreate', { user: alice.did, agent: '*', capabilities: ['llm_task', 'read_file'], validForMs: 60 * 60_000 });
    broker.client.connection.onNotification(Notifications.intentProgress.method, (raw: unknown) => {
      const p = Notifications.intentProgress.params.parse(raw);
      progress.push({ intentId: p.intentId, stream: p.stream, text: p.text });
    });

    const base = tempDir('llm-task');
    started.dirs.push(base);
    const workspace = join(base, 'ws');
    agent = await started.agent({
      brokerUrl: proxy.url,
      brokerDid: broker.did,
      workspace,
      request: 'llm_task,read_file,list_files,write_file,run_command',
      args: ['--model-url', model.url, '--model', 'scripted-model', '--model-key-env', 'VC_TEST_MODEL_KEY'],
      env: { VC_TEST_MODEL_KEY: MODEL_KEY },
    });
    writeFileSync(join(workspace, 'hello.txt'), 'Hello from the workspace.\n');
    writeFileSync(join(base, 'outside.txt'), CANARY);
    // Not list_files: a capability the certificate leaves out.
    await approveAgent(owner, agent, {
      capabilities: ['llm_task', 'read_file', 'write_file', 'run_command'],
      approvalRequired: ['write_file'],
      maxTokensPerDay: 1_000_000,
      maxRequestsPerHour: 100,
    });

    keyDir = tempDir('model-key');
    started.dirs.push(keyDir);
    writeFileSync(join(keyDir, 'model.key'), `${FILE_KEY}\n`, { mode: 0o600 });
    frugal = await started.agent({
      brokerUrl: broker.url,
      brokerDid: broker.did,
      request: 'llm_task,read_file',
      args: ['--model-url', model.url, '--model', 'scripted-model', '--model-key-file', join(keyDir, 'model.key')],
    });
    writeFileSync(join(frugal.workspace, 'a.txt'), 'a\n');
    await approveAgent(owner, frugal, { capabilities: ['llm_task', 'read_file'], maxTokensPerDay: 100, maxRequestsPerHour: 100 });
  });

  after(async () => {
    for (const m of [bob, alice]) m?.client.close();
    await started.cleanup();
    await proxy?.close();
    await model?.close();
  });

  test('a multi-step task: the model calls tools, gets their answers, and its final text is the signed result', async () => {
    const from = model.requests.length;
    model.play([
      callsTools([{ name: 'run_command', args: { command: 'env', args: [], cwd: '.', timeoutMs: 5000 } }], 120, 'Let me look around first.'),
      callsTools([{ name: 'read_file', args: { path: 'hello.txt' } }], 150),
      answers('hello.txt greets the reader: "Hello from the workspace."', 90),
    ]);
    const before = (await call(owner, 'agentsGet', { did: agent.did })).usage.tokensToday;
    const done = await runTask(owner, agent, { instruction: 'What does hello.txt say?', maxSteps: 5 });

    assert.equal(done.state, 'succeeded', `${done.reason}: ${done.message}`);
    assert.deepEqual(done.output, { text: 'hello.txt greets the reader: "Hello from the workspace."', truncated: false, steps: 3, toolCalls: 2 });
    assert.ok(done.signedResult);

    const sent = requestsSince(from);
    assert.equal(sent.length, 3, 'one request per step');
    for (const r of sent) {
      assert.equal(r.headers.authorization, `Bearer ${MODEL_KEY}`, 'the key goes to the model endpoint, as a bearer token');
      assert.equal(r.body.model, 'scripted-model');
      assert.deepEqual(r.body.tools.map((t) => t.function.name).sort(), ['http_fetch', 'list_files', 'read_file', 'run_command', 'write_file']);
    }
    assert.equal(sent[0]!.body.messages.find((m) => m.role === 'user')?.content, 'What does hello.txt say?');
    const [envResult] = toolResults(sent[1]!);
    assert.equal(envResult!.status, 'done');
    const env = String((envResult!.output as { stdout: string }).stdout);
    assert.match(env, /^PATH=\/usr\/local\/bin:\/usr\/bin:\/bin$/m, 'the command ran, in the scrubbed environment');
    assert.doesNotMatch(env, /VC_TEST_MODEL_KEY|sk-vc-/, 'the key is not in the environment of the commands the model runs');
    const readResult = toolResults(sent[2]!)[1]!;
    assert.deepEqual(readResult, { status: 'done', output: { content: 'Hello from the workspace.\n', bytes: 26, truncated: false } });

    // Progress streamed to the broker: steps, tool calls, the model's words.
    const mine = progress.filter((p) => p.intentId === done.id);
    const status = mine.filter((p) => p.stream === 'status').map((p) => p.text).join('');
    assert.match(status, /step 1: asking the model/);
    assert.match(status, /step 3: asking the model/);
    assert.match(status, /tool run_command \{"command":"env".*→ done/);
    assert.match(status, /tool read_file \{"path":"hello.txt"\} → done/);
    assert.match(status, /step 2: the model used 150 tokens/);
    assert.match(mine.filter((p) => p.stream === 'stdout').map((p) => p.text).join(''), /Let me look around first\.\n[\s\S]*greets the reader/);

    // The broker shows the tokens the agent signed for.
    const after = await call(owner, 'agentsGet', { did: agent.did });
    assert.equal(after.usage.tokensToday - before, 360);
    assert.ok(broker.log.find('tokens.reported', (l) => l.intentId === done.id), 'the report is in the audit trail');
  });

  test('tool calls outside the certificate, the task\'s tools, the user\'s delegation or the sandbox are refused to the model, not run', async () => {
    const from = model.requests.length;
    model.play([
      callsTools(
        [
          { name: 'list_files', args: { path: '.' } }, // not in the certificate
          { name: 'run_command', args: { command: 'touch', args: ['ran-anyway'], cwd: '.', timeoutMs: 5000 } }, // not in this task's tools
          { name: 'read_file', args: { path: '../outside.txt' } }, // out of the workspace
          { name: 'read_file', args: { path: 'hello.txt', encoding: 'base64' } }, // arguments the tool does not take
          { name: 'delete_everything', args: {} }, // no such tool
        ],
        80,
      ),
      answers('Nothing I was allowed to do.', 20),
    ]);
    const done = await runTask(owner, agent, { instruction: 'Poke around', tools: ['read_file', 'list_files'] });
    assert.equal(done.state, 'succeeded', `${done.reason}: ${done.message}`);
    assert.equal(done.output?.toolCalls, 5);

    const results = toolResults(requestsSince(from)[1]!);
    assert.deepEqual(
      results.map((r) => [r.status, r.reason]),
      [
        ['refused', 'capability-not-granted'],
        ['refused', 'capability-not-granted'],
        ['refused', 'path-escape'],
        ['refused', 'bad-params'],
        ['refused', 'capability-not-granted'],
      ],
    );
    assert.match(String(results[0]!.message), /list_files is not in the certificate/);
    assert.match(String(results[1]!.message), /run_command is not among the tools of this task/);
    assert.equal(existsSync(join(agent.workspace, 'ran-anyway')), false, 'the refused command never ran');
    assert.doesNotMatch(JSON.stringify(results), /never read/, 'nothing of the file outside reached the model');

    // Alice's grant covers llm_task and read_file: her model may read, not run commands.
    const aliceFrom = model.requests.length;
    model.play([
      callsTools(
        [
          { name: 'run_command', args: { command: 'touch', args: ['alice-ran'], cwd: '.', timeoutMs: 5000 } },
          { name: 'read_file', args: { path: 'hello.txt' } },
        ],
        40,
      ),
      answers('Read it.', 10),
    ]);
    const hers = await runTask(alice, agent, { instruction: 'Read hello.txt and run something' });
    assert.equal(hers.state, 'succeeded', `${hers.reason}: ${hers.message}`);
    const [denied, read] = toolResults(requestsSince(aliceFrom)[1]!);
    assert.equal(denied!.reason, 'delegation-capability', JSON.stringify(denied));
    assert.equal(read!.status, 'done');
    assert.equal(existsSync(join(agent.workspace, 'alice-ran')), false);
  });

  test('a tool call that needs approval shows the model\'s arguments to a reviewer: approved, it runs', async () => {
    const from = model.requests.length;
    const args = { path: 'summary.md', content: '# Summary\nhello.txt says hello.\n', mode: 'create' };
    model.play([callsTools([{ name: 'write_file', args }], 70), answers('Wrote summary.md.', 15)]);
    const sent = await task(owner, agent, { instruction: 'Write a summary to summary.md' });

    const approval = await pendingApproval(bob, sent.id, 15_000);
    assert.equal(approval.capability, 'write_file');
    assert.deepEqual(approval.params, args, 'the reviewer sees exactly what the model asked for');
    assert.equal(approval.user, owner.did);
    assert.equal(existsSync(join(agent.workspace, 'summary.md')), false, 'nothing is written before the decision');

    const decided = await call(bob, 'approvalsDecide', decisionParams(bob.identity, approval, 'approve', { reason: 'fine' }));
    assert.equal(decided.state, 'approved');
    const done = await finalIntent(owner, sent.id, 20_000);
    assert.equal(done.state, 'succeeded', `${done.reason}: ${done.message}`);
    assert.equal(readFileSync(join(agent.workspace, 'summary.md'), 'utf8'), args.content);
    assert.deepEqual(toolResults(requestsSince(from)[1]!), [{ status: 'done', output: { bytesWritten: 32, path: 'summary.md' } }]);
  });

  test('a tool call the reviewer rejects is returned to the model as a refusal and never runs', async () => {
    const from = model.requests.length;
    model.play([
      callsTools([{ name: 'write_file', args: { path: 'hello.txt', content: 'overwritten\n', mode: 'overwrite' } }], 70),
      answers('The reviewer declined; hello.txt is unchanged.', 15),
    ]);
    const sent = await task(owner, agent, { instruction: 'Replace hello.txt' });
    const approval = await pendingApproval(bob, sent.id, 15_000);
    await call(bob, 'approvalsDecide', decisionParams(bob.identity, approval, 'reject', { reason: 'keep the greeting' }));

    const done = await finalIntent(owner, sent.id, 20_000);
    assert.equal(done.state, 'succeeded', 'the task goes on after a refusal');
    const [refusal] = toolResults(requestsSince(from)[1]!);
    assert.equal(refusal!.status, 'refused');
    assert.equal(refusal!.reason, 'approval-rejected');
    assert.match(String(refusal!.message), new RegExp(`rejected by ${bob.did}: keep the greeting`));
    assert.equal(readFileSync(join(agent.workspace, 'hello.txt'), 'utf8'), 'Hello from the workspace.\n');
  });

  test('a budget used up mid-task stops it before the next model call; the broker then refuses tasks from the agent\'s signed usage', async () => {
    const from = model.requests.length;
    model.play([
      callsTools([{ name: 'read_file', args: { path: 'a.txt' } }], 60),
      callsTools([{ name: 'read_file', args: { path: 'a.txt' } }], 60),
      answers('never reached', 10),
    ]);
    const done = await runTask(owner, frugal, { instruction: 'Read a.txt, twice' });
    assert.equal(done.state, 'failed');
    assert.equal(done.reason, 'token-budget-exhausted', String(done.message));
    assert.match(String(done.message), /daily token budget of 100 is used up/);
    assert.equal(done.output?.steps, 2);

    const sent = requestsSince(from);
    assert.equal(sent.length, 2, 'no model call once the budget is used up');
    assert.deepEqual(sent.map((r) => r.body.max_tokens), [100, 40], 'each call asks for no more than what remains of the budget');
    for (const r of sent) assert.equal(r.headers.authorization, `Bearer ${FILE_KEY}`, 'the key from the 0600 file');

    // The agent's ledger is on disk, under the UTC day.
    const db = new Database(join(frugal.stateDir, 'agent.db'), { readonly: true });
    try {
      assert.deepEqual(db.prepare('SELECT day, tokens FROM token_usage').all(), [{ day: utcDay(Date.now()), tokens: 120 }]);
    } finally {
      db.close();
    }
    // The broker counts one intent's report up to the certificate's daily budget (token-report-gate): 100, not the 120 reported.
    const view = await call(owner, 'agentsGet', { did: frugal.did });
    assert.equal(view.usage.tokensToday, 100);
    await broker.log.waitFor('tokens.clamped', (l) => l.did === frugal.did && l.claimed === 120 && l.counted === 100);
    const refused = await runAs(owner, frugal.did, 'llm_task', { instruction: 'Try again' });
    assertBrokerRefused(refused, 'token-budget-exhausted');
    assert.equal(model.requests.length, from + 2);
  });

  test('a malformed model answer fails the task with its own reason', async () => {
    const cases: [string, Parameters<ScriptedModel['play']>[0][number], RegExp][] = [
      ['not JSON', { kind: 'raw', status: 200, text: '<html>502 Bad Gateway</html>' }, /not JSON/],
      ['no choices', { kind: 'json', body: { choices: 'none', usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } } }, /choices/],
      ['no usage to count', { kind: 'json', body: { choices: [{ message: { role: 'assistant', content: 'hi' } }] } }, /usage/],
    ];
    for (const [what, answer, message] of cases) {
      model.play([answer]);
      const done = await runTask(owner, agent, { instruction: `Say hi (${what})` });
      assert.equal(done.state, 'failed', what);
      assert.equal(done.reason, 'model-malformed-response', `${what}: ${done.message}`);
      assert.match(String(done.message), message, what);
    }
    model.play([{ kind: 'raw', status: 401, text: `{"error":"bad key ${MODEL_KEY}"}` }]);
    const denied = await runTask(owner, agent, { instruction: 'Say hi (HTTP 401)' });
    assert.equal(denied.reason, 'model-unavailable');
    assert.equal(denied.message, 'the model endpoint answered HTTP 401', 'the error body, which echoes the key, is not repeated');
  });

  test('a hanging endpoint is cut off at the task\'s time limit', async () => {
    const from = model.requests.length;
    model.play([{ kind: 'hang' }]);
    const t0 = Date.now();
    const done = await runTask(owner, agent, { instruction: 'Wait forever', timeLimitMs: 1500 });
    assert.equal(done.state, 'failed');
    assert.equal(done.reason, 'task-time-limit', String(done.message));
    assert.ok(Date.now() - t0 < 15_000, 'the task ended on its own deadline');
    await waitFor('the agent to abandon the request', () => requestsSince(from)[0]?.abandoned === true);
  });

  test('cancelled while a tool it called runs: the command is killed, the loop stops (no further model call), the task ends cancelled', async () => {
    const marker = String(randomInt(1e8, 1e9));
    const from = model.requests.length;
    model.play([callsTools([{ name: 'run_command', args: { command: 'sleep', args: [`300.${marker}`], cwd: '.', timeoutMs: 120_000 } }], 50), answers('never asked', 10)]);
    const sent = await task(owner, agent, { instruction: 'Wait a long time.', maxSteps: 5 });
    await waitFor('the command the model called running', () => processesWith(marker).length > 0, 20_000);
    assert.equal((await call(owner, 'intentsCancel', { id: sent.id })).state, 'cancelled');
    await waitFor('the command gone', () => processesWith(marker).length === 0, 15_000);
    const answer = await signedAnswer(sent.id);
    assert.deepEqual([answer.state, answer.outcome, answer.reason], ['cancelled', 'failed', 'cancelled']);
    assert.match(answer.message ?? '', /cancelled by did:vaultys:[0-9a-f]{40}; the task stopped after 1 step/);
    assert.equal(model.requests.length - from, 1, 'the model is not asked again after the cancel');
  });

  test('cancelled while the model thinks: the request to the endpoint is abandoned and the task ends cancelled', async () => {
    const from = model.requests.length;
    model.play([{ kind: 'hang' }]);
    const sent = await task(owner, agent, { instruction: 'Think forever.', maxSteps: 5 });
    await waitFor('the model request in flight', () => model.requests.length > from, 20_000);
    await call(owner, 'intentsCancel', { id: sent.id });
    const answer = await signedAnswer(sent.id);
    assert.deepEqual([answer.state, answer.reason], ['cancelled', 'cancelled']);
    await waitFor('the endpoint request abandoned', () => model.requests[from]?.abandoned === true, 10_000);
  });

  test('a policy that puts llm_task itself under approval pauses the whole task, instruction shown, before any model call', async () => {
    await call(owner, 'policySet', {
      did: agent.did,
      policy: { capabilities: ['llm_task', 'read_file', 'write_file', 'run_command'], approvalRequired: ['llm_task', 'write_file'], maxTokensPerDay: 1_000_000, maxRequestsPerHour: 100 },
    });
    await agent.log.waitFor('auth.succeeded', (l) => l.policyVersion === 2);
    const from = model.requests.length;
    model.play([answers('Approved and done.', 12)]);
    // Keys out of the schema's order: the request must still describe the intent exactly as signed.
    const params = { tools: ['read_file'], instruction: 'Say something' };
    const sent = await task(owner, agent, params);
    const approval = await pendingApproval(bob, sent.id, 15_000);
    assert.equal(approval.capability, 'llm_task');
    assert.deepEqual(approval.params, params);
    assert.equal(model.requests.length, from, 'the model is not asked before the reviewer decides');
    await call(bob, 'approvalsDecide', decisionParams(bob.identity, approval, 'approve'));
    const done = await finalIntent(owner, sent.id, 20_000);
    assert.equal(done.state, 'succeeded', `${done.reason}: ${done.message}`);
    assert.equal(done.output?.text, 'Approved and done.');
    assert.equal(model.requests.length, from + 1);
  });

  test('the model key reaches the model endpoint and nothing else: not the broker, its audit log or database, not a log line', async () => {
    assert.ok(model.requests.some((r) => r.headers.authorization === `Bearer ${MODEL_KEY}`), 'the key was in use all along');
    for (const r of model.requests) assert.ok(!r.raw.includes(MODEL_KEY) && !r.raw.includes(FILE_KEY), 'no request body carries a key');

    const haystacks: [string, Buffer][] = [];
    haystacks.push(['frames through the proxy', Buffer.concat(proxy.seen.map((m) => Buffer.from(m.data)))]);
    for (const name of readdirSync(broker.dataDir)) {
      const path = join(broker.dataDir, name);
      try {
        haystacks.push([`broker data dir: ${name}`, readFileSync(path)]);
      } catch {
        // A socket, not a file.
      }
    }
    haystacks.push(['broker log', Buffer.from(broker.log.raw.join('\n'))]);
    for (const a of [agent, frugal]) haystacks.push([`agent log ${a.did}`, Buffer.from(a.log.raw.join('\n'))]);
    const intents = await allIntents(owner.client);
    assert.ok(intents.filter((i) => i.capability === 'llm_task').length >= 10);
    haystacks.push(['intents as clients list them', Buffer.from(JSON.stringify(intents))]);
    for (const { id } of intents) haystacks.push([`intent ${id} in full`, Buffer.from(JSON.stringify(await call(owner, 'intentsGet', { id })))]);
    haystacks.push(['approvals', Buffer.from(JSON.stringify(await call(owner, 'approvalsList', { limit: BUDGETS.listPageItems.limit })))]);
    haystacks.push(['progress', Buffer.from(JSON.stringify(progress))]);

    assert.ok(haystacks.find(([what]) => what === 'frames through the proxy')![1].length > 10_000, 'the proxy saw the whole conversation');
    for (const [what, bytes] of haystacks) {
      for (const key of [MODEL_KEY, FILE_KEY]) {
        assert.equal(bytes.indexOf(key), -1, `${what} holds a model key`);
        assert.equal(bytes.indexOf(Buffer.from(key).toString('base64').slice(0, 40)), -1, `${what} holds a model key in base64`);
      }
    }
  });
});
