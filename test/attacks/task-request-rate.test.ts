/**
 * Review finding 10 (low): llm_task bypassed maxRequestsPerHour — one task ran 320 commands under a limit of
 * 2 an hour (64 tool calls per model response, times steps). A real agent process with a scripted model: each
 * tool call the model makes counts toward the agent's hourly window like a direct intent's execution, and the
 * calls of one response beyond what remains of the hour are refused to the model as rate-limited.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { AgentProcess, BrokerProcess } from '../support/processes';
import { answers, callsTools, ScriptedModel, toolResults } from '../support/scripted-model';
import { exitIfHeldOpen, Started } from '../support/started';
import { approveAgent, assertAgentRefused, call, finalIntent, ownerOf, type Member } from './support/team';

exitIfHeldOpen();
const started = new Started();
let broker: BrokerProcess;
let model: ScriptedModel;
let owner: Member;
let agent: AgentProcess;
/** The certificate's hourly rate: the task itself, then two tool calls, reach it exactly. */
const MAX_REQUESTS_PER_HOUR = 3;

before(async () => {
  model = await ScriptedModel.start();
  broker = await started.broker();
  owner = ownerOf(broker);
  agent = await started.agent({
    brokerUrl: broker.url,
    brokerDid: broker.did,
    request: 'llm_task,read_file',
    args: ['--model-url', model.url, '--model', 'scripted-model', '--model-key-env', 'VC_TEST_MODEL_KEY'],
    env: { VC_TEST_MODEL_KEY: 'sk-vc-test-rate' },
  });
  writeFileSync(join(agent.workspace, 'a.txt'), 'a\n');
  await approveAgent(owner, agent, { capabilities: ['llm_task', 'read_file'], maxTokensPerDay: 1_000_000, maxRequestsPerHour: MAX_REQUESTS_PER_HOUR });
});

after(async () => {
  await started.cleanup();
  await model?.close();
});

describe('a task and the hourly request rate', () => {
  test('Rate bypass: of four tool calls in one model response under a rate of 3/h, the two that fit run (the bound) and the rest are refused to the model as rate-limited (bound + 1); the next direct intent is refused too', async () => {
    const from = model.requests.length;
    const read = { name: 'read_file', args: { path: 'a.txt' } };
    model.play([callsTools([read, read, read, read], 100), answers('read what I could', 50)]);
    const sent = await call(owner, 'intentsDispatch', { agent: agent.did, capability: 'llm_task', params: { instruction: 'Read a.txt four times', maxSteps: 3 } });
    assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
    const done = await finalIntent(owner, sent.id, 20_000);
    assert.equal(done.state, 'succeeded', `${done.reason}: ${done.message}`);

    const results = toolResults(model.requests[from + 1]!);
    assert.deepEqual(
      results.map((r) => (r.status === 'refused' ? `refused ${String(r.reason)}` : r.status)),
      ['done', 'done', 'refused rate-limited', 'refused rate-limited'],
    );
    assert.match(String(results[2]!.message), new RegExp(`${MAX_REQUESTS_PER_HOUR} requests in the last hour; the limit is ${MAX_REQUESTS_PER_HOUR}`));
    const executed = agent.log.lines.filter((l) => l.event === 'task.tool-call' && l.intentId === sent.id && l.status === 'executing');
    assert.equal(executed.length, MAX_REQUESTS_PER_HOUR - 1);

    // The window the task filled is the one direct intents meet: the broker (which counted one request) sends, the agent refuses.
    const direct = await call(owner, 'intentsDispatch', { agent: agent.did, capability: 'read_file', params: { path: 'a.txt' } });
    assert.equal(direct.state, 'sent', `${direct.reason}: ${direct.message}`);
    assertAgentRefused(await finalIntent(owner, direct.id, 20_000), 'rate-limited');
  });
});
