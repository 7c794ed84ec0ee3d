import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { answerDeadline, toolTimeoutMs } from '../../../core/policy/answer-deadline';
import type { IntentBody } from '../../../core/wire/intent';
import type { CertifiedPolicy } from '../../../core/wire/policy';
import { MAX_TASK_TIME_MS } from '../../../core/wire/task';

const EXPIRES = Date.UTC(2025, 0, 15, 12, 5, 0);
const MARGIN = 30_000;
const APPROVAL = 600_000;
const policy = (approvalRequired: IntentBody['capability'][] = []) => ({ approvalRequired, approvalTimeoutMs: APPROVAL });
const call = (capability: IntentBody['capability'], params: Record<string, unknown>) => ({ capability, params, expiresAt: EXPIRES });
const command = { command: 'make', args: [], cwd: '.', timeoutMs: 120_000 };

describe('the answer deadline: what an intent may legitimately take, plus a margin', () => {
  test('a file tool: its expiry, the fixed file-tool bound the agent aborts at, the margin', () => {
    const read = call('read_file', { path: 'a' });
    assert.equal(toolTimeoutMs({ capability: 'read_file', params: { path: 'a' } }), 60_000);
    assert.equal(answerDeadline(read, policy(), MARGIN), EXPIRES + 60_000 + MARGIN);
  });

  test("a command: its own timeout plus the agent's grace to report it, the same bound the agent aborts at", () => {
    const bound = toolTimeoutMs({ capability: 'run_command', params: command });
    assert.equal(bound, 125_000);
    assert.equal(answerDeadline(call('run_command', command), policy(), MARGIN), EXPIRES + bound + MARGIN);
  });

  test("the reviewer's wait counts only when the certificate makes the capability wait for one", () => {
    assert.equal(answerDeadline(call('run_command', command), policy(['run_command']), MARGIN), EXPIRES + APPROVAL + 125_000 + MARGIN);
    assert.equal(answerDeadline(call('run_command', command), policy(['write_file']), MARGIN), EXPIRES + 125_000 + MARGIN);
  });

  test("a rule-level ask waits the approval timeout too, while an explicit allow default drops approvalRequired's wait", () => {
    const ruled = (rules: NonNullable<CertifiedPolicy['rules']>, approvalRequired: IntentBody['capability'][] = []) => ({ ...policy(approvalRequired), rules });
    const pushAsks = ruled({ run_command: { default: 'allow', rules: [{ effect: 'ask', reviewers: 2, match: { argv: ['git', 'push', '*'] } }] } });
    assert.equal(answerDeadline(call('run_command', command), pushAsks, MARGIN), EXPIRES + APPROVAL + 125_000 + MARGIN);
    const allowAll = ruled({ run_command: { default: 'allow', rules: [] } }, ['run_command']);
    assert.equal(answerDeadline(call('run_command', command), allowAll, MARGIN), EXPIRES + 125_000 + MARGIN);
  });

  test("a task: its own time limit (reviewer waits run inside it), or the wire's ceiling when it names none", () => {
    assert.equal(answerDeadline(call('llm_task', { instruction: 'go', timeLimitMs: 90_000 }), policy(), MARGIN), EXPIRES + 90_000 + MARGIN);
    assert.equal(answerDeadline(call('llm_task', { instruction: 'go' }), policy(['llm_task']), MARGIN), EXPIRES + APPROVAL + MAX_TASK_TIME_MS + MARGIN);
  });

  test('params the agent refuses at once add no run time', () => {
    assert.equal(answerDeadline(call('run_command', { command: 'x' }), policy(), MARGIN), EXPIRES + MARGIN);
  });
});
