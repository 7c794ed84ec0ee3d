import { BUDGETS } from '../budgets';
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
