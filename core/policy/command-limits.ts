import { BUDGETS } from '../budgets';
import { LIMIT_FIELDS, parseLimit } from '../rpc/policy-text';
import type { CommandLimits } from '../wire/policy';

/** The widest limits the wire allows: a policy's default, and an agent host's ceilings unless its operator narrows them. */
export const MAX_COMMAND_LIMITS: CommandLimits = {
  cpuSeconds: BUDGETS.commandCpuSeconds.limit,
  memoryBytes: BUDGETS.commandMemoryBytes.limit,
  processes: BUDGETS.commandProcesses.limit,
  fileBytes: BUDGETS.commandFileBytes.limit,
  workspaceWriteBytes: BUDGETS.commandWorkspaceWriteBytes.limit,
};

/** What a command runs under: the certified policy's limits, narrowed field by field to the host's ceilings. */
export function narrowLimits(policy: CommandLimits, ceilings: CommandLimits): CommandLimits {
  return {
    cpuSeconds: Math.min(policy.cpuSeconds, ceilings.cpuSeconds),
    memoryBytes: Math.min(policy.memoryBytes, ceilings.memoryBytes),
    processes: Math.min(policy.processes, ceilings.processes),
    fileBytes: Math.min(policy.fileBytes, ceilings.fileBytes),
    workspaceWriteBytes: Math.min(policy.workspaceWriteBytes, ceilings.workspaceWriteBytes),
  };
}

/**
 * `base` with each limit given on the command line in its place (agent start --max-*): the text is read as the
 * broker CLI and the policy editor read it (core/rpc/policy-text.ts), and none may pass its BUDGETS row.
 */
export function commandLimitsFromOptions(options: Partial<Record<keyof CommandLimits, string>>, base: CommandLimits): CommandLimits {
  const limits = { ...base };
  for (const field of LIMIT_FIELDS) {
    const text = options[field.key];
    if (text === undefined) continue;
    const parsed = parseLimit(field, text, MAX_COMMAND_LIMITS[field.key]);
    if (!parsed.ok) throw new Error(`--${field.flag}: ${parsed.problem}`);
    limits[field.key] = parsed.value;
  }
  return limits;
}
