// A command's limits: the policy's, bounded on the wire by their BUDGETS rows, narrowed by the host's ceilings that
// the agent's operator sets with agent start --max-* (parsed here, each refused past its row).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BUDGETS } from '../../../core/budgets';
import { commandLimitsFromOptions, MAX_COMMAND_LIMITS, narrowLimits } from '../../../core/policy/command-limits';
import { CommandLimits } from '../../../core/wire/policy';

const ROWS = {
  cpuSeconds: BUDGETS.commandCpuSeconds,
  memoryBytes: BUDGETS.commandMemoryBytes,
  processes: BUDGETS.commandProcesses,
  fileBytes: BUDGETS.commandFileBytes,
  workspaceWriteBytes: BUDGETS.commandWorkspaceWriteBytes,
} as const;
const FIELDS = Object.keys(ROWS) as (keyof typeof ROWS)[];

describe('commandLimits in a certified policy', () => {
  for (const field of FIELDS) {
    test(`${field}: its BUDGETS row's limit is accepted, one more is refused`, () => {
      assert.equal(CommandLimits.safeParse({ ...MAX_COMMAND_LIMITS, [field]: ROWS[field].limit }).success, true);
      const over = CommandLimits.safeParse({ ...MAX_COMMAND_LIMITS, [field]: ROWS[field].limit + 1 });
      assert.equal(over.success, false);
      assert.deepEqual(over.error!.issues.map((i) => i.path.join('.')), [field]);
    });
  }

  test('the rows themselves: BUDGETS.commandCpuSeconds, commandMemoryBytes, commandProcesses, commandFileBytes, commandWorkspaceWriteBytes are the widest limits', () => {
    assert.deepEqual(MAX_COMMAND_LIMITS, {
      cpuSeconds: BUDGETS.commandCpuSeconds.limit,
      memoryBytes: BUDGETS.commandMemoryBytes.limit,
      processes: BUDGETS.commandProcesses.limit,
      fileBytes: BUDGETS.commandFileBytes.limit,
      workspaceWriteBytes: BUDGETS.commandWorkspaceWriteBytes.limit,
    });
  });

  test('the host ceilings narrow the policy field by field and never widen it', () => {
    const policy = { cpuSeconds: 10, memoryBytes: 1 << 30, processes: 8, fileBytes: 1 << 20, workspaceWriteBytes: 1 << 25 };
    const ceilings = { cpuSeconds: 5, memoryBytes: 2 * 2 ** 30, processes: 4, fileBytes: 1 << 21, workspaceWriteBytes: 1 << 24 };
    assert.deepEqual(narrowLimits(policy, ceilings), { cpuSeconds: 5, memoryBytes: 1 << 30, processes: 4, fileBytes: 1 << 20, workspaceWriteBytes: 1 << 24 });
  });
});

describe('agent start --max-* (the host ceilings)', () => {
  test('no option keeps the defaults: the BUDGETS rows', () => {
    assert.deepEqual(commandLimitsFromOptions({}, MAX_COMMAND_LIMITS), MAX_COMMAND_LIMITS);
  });

  test('each option sets its own field only', () => {
    const ceilings = commandLimitsFromOptions({ cpuSeconds: '2', memoryBytes: '256M', processes: '32', fileBytes: '8M', workspaceWriteBytes: '32M' }, MAX_COMMAND_LIMITS);
    assert.deepEqual(ceilings, { cpuSeconds: 2, memoryBytes: 256 << 20, processes: 32, fileBytes: 8 << 20, workspaceWriteBytes: 32 << 20 });
    assert.deepEqual(commandLimitsFromOptions({ processes: '7' }, MAX_COMMAND_LIMITS), { ...MAX_COMMAND_LIMITS, processes: 7 });
  });

  const flags = {
    cpuSeconds: '--max-cpu-seconds',
    memoryBytes: '--max-memory',
    processes: '--max-processes',
    fileBytes: '--max-file-size',
    workspaceWriteBytes: '--max-workspace-writes',
  } as const;
  for (const field of FIELDS) {
    test(`${flags[field]}: at its BUDGETS row's limit it is taken, one more is refused naming the flag and the bound`, () => {
      const limit = ROWS[field].limit;
      assert.equal(commandLimitsFromOptions({ [field]: String(limit) }, MAX_COMMAND_LIMITS)[field], limit);
      assert.throws(() => commandLimitsFromOptions({ [field]: String(limit + 1) }, MAX_COMMAND_LIMITS), new RegExp(`^Error: ${flags[field]}: .*: at most `));
    });
  }

  test('sizes at the bound as an operator writes them: --max-memory 4G, --max-file-size 1G, --max-workspace-writes 2G', () => {
    const ceilings = commandLimitsFromOptions({ memoryBytes: '4G', fileBytes: '1G', workspaceWriteBytes: '2G' }, MAX_COMMAND_LIMITS);
    assert.equal(ceilings.memoryBytes, BUDGETS.commandMemoryBytes.limit);
    assert.equal(ceilings.fileBytes, BUDGETS.commandFileBytes.limit);
    assert.equal(ceilings.workspaceWriteBytes, BUDGETS.commandWorkspaceWriteBytes.limit);
    assert.throws(() => commandLimitsFromOptions({ memoryBytes: '5G' }, MAX_COMMAND_LIMITS), /^Error: --max-memory: Memory: at most 4 GiB$/);
  });

  test('counts are whole positive numbers', () => {
    for (const bad of ['0', '-3', '1.5', 'ten', '2M', '']) {
      assert.throws(() => commandLimitsFromOptions({ processes: bad }, MAX_COMMAND_LIMITS), /^Error: --max-processes: Processes: .* is not a whole number above 0$/, bad);
      assert.throws(() => commandLimitsFromOptions({ cpuSeconds: bad }, MAX_COMMAND_LIMITS), /^Error: --max-cpu-seconds: CPU seconds: .* is not a whole number above 0$/, bad);
    }
  });
});
