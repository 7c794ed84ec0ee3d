import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IntentCall, MAX_TASK_INSTRUCTION_CHARS, TASK_TOOLS, TaskParams, taskTools, TokenUsageReport } from '../../../core/wire/task';

test('a task needs an instruction with something in it, within its length', () => {
  assert.ok(TaskParams.safeParse({ instruction: 'fix the build' }).success);
  for (const instruction of ['', '   ', '\n\t']) assert.equal(TaskParams.safeParse({ instruction }).success, false, JSON.stringify(instruction));
  assert.ok(TaskParams.safeParse({ instruction: 'x'.repeat(MAX_TASK_INSTRUCTION_CHARS) }).success);
  assert.equal(TaskParams.safeParse({ instruction: 'x'.repeat(MAX_TASK_INSTRUCTION_CHARS + 1) }).success, false);
});

test('a task uses its subset of tools, or every task tool; it may never name another task', () => {
  assert.deepEqual(taskTools(TaskParams.parse({ instruction: 'x' })), TASK_TOOLS);
  assert.deepEqual(taskTools(TaskParams.parse({ instruction: 'x', tools: ['read_file'] })), ['read_file']);
  assert.equal(TaskParams.safeParse({ instruction: 'x', tools: ['llm_task'] }).success, false);
  assert.equal(TaskParams.safeParse({ instruction: 'x', tools: [] }).success, false);
});

test('an intent call is a tool call or a task, each with its own params', () => {
  assert.ok(IntentCall.safeParse({ capability: 'llm_task', params: { instruction: 'x' } }).success);
  assert.ok(IntentCall.safeParse({ capability: 'list_files', params: { path: '.' } }).success);
  assert.equal(IntentCall.safeParse({ capability: 'llm_task', params: { path: '.' } }).success, false);
});

test('a token report names a real UTC day and a whole, non-negative count', () => {
  assert.ok(TokenUsageReport.safeParse({ day: '2024-02-29', tokens: 0 }).success);
  for (const report of [{ day: '2025-02-29', tokens: 1 }, { day: '2025-3-1', tokens: 1 }, { day: '2025-03-01', tokens: -1 }, { day: '2025-03-01', tokens: 0.5 }]) {
    assert.equal(TokenUsageReport.safeParse(report).success, false, JSON.stringify(report));
  }
});
