// The broker's pre-check and the agent read an intent's call with the one parseIntentCall: a call the agent would
// refuse as bad-params is refused by the broker with the same reason and words, before anything is signed.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseIntentCall } from '../../../core/wire/task';

describe('parseIntentCall', () => {
  test('reads a tool call and a task as the call they name', () => {
    const read = parseIntentCall({ capability: 'read_file', params: { path: 'notes.txt' } });
    assert.deepEqual(read, { ok: true, call: { capability: 'read_file', params: { path: 'notes.txt' } } });
    const task = parseIntentCall({ capability: 'llm_task', params: { instruction: 'Summarize', maxSteps: 3 } });
    assert.ok(task.ok && task.call.capability === 'llm_task');
    assert.equal(task.call.params.maxSteps, 3);
  });

  test('refuses params the tool does not take as bad-params, naming the first problem and where it is', () => {
    const cases: [string, unknown, RegExp][] = [
      ['read_file', { path: 'notes.txt', follow: 'symlinks' }, /^params: .*follow/],
      ['run_command', { command: 'ls', args: [], cwd: '.', timeoutMs: -1 }, /^params\.timeoutMs: /],
      ['write_file', { path: 'x', content: 'y' }, /^params\.mode: /],
      ['llm_task', { instruction: '   ' }, /^params\.instruction: the instruction is empty$/],
      ['read_file', null, /^params: /],
    ];
    for (const [capability, params, message] of cases) {
      const refused = parseIntentCall({ capability, params });
      assert.equal(refused.ok, false, `${capability} ${JSON.stringify(params)}`);
      assert.equal(refused.ok === false && refused.reason, 'bad-params');
      assert.match(refused.ok === false ? refused.message : '', message);
    }
  });

  test('refuses a capability no intent can name as bad-params', () => {
    const refused = parseIntentCall({ capability: 'format_disk', params: {} });
    assert.equal(refused.ok, false);
    assert.equal(refused.ok === false && refused.reason, 'bad-params');
    assert.match(refused.ok === false ? refused.message : '', /^capability: /);
  });
});
