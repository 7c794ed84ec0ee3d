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

/** The command-line option that sets each limit: the agent's ceilings (agent start) and a policy's limits use the same names. */
export const COMMAND_LIMIT_OPTIONS = {
  cpuSeconds: '--max-cpu-seconds',
  memoryBytes: '--max-memory',
  processes: '--max-processes',
  fileBytes: '--max-file-size',
  workspaceWriteBytes: '--max-workspace-writes',
} as const satisfies Record<keyof CommandLimits, string>;

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
const SIZED: ReadonlySet<keyof CommandLimits> = new Set(['memoryBytes', 'fileBytes', 'workspaceWriteBytes']);

/** A size as an operator writes it: 1048576, 512K, 512M, 2G (powers of 1024; a trailing B or iB is allowed). */
export function parseByteSize(text: string, flag: string): number {
  const match = /^(\d{1,16})([kmg]?)(i?b)?$/i.exec(text.trim());
  const value = match ? Number(match[1]) * SIZE_UNITS[match[2]!.toLowerCase()]! : NaN;
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`${flag} must be a positive size such as 512M or 2G`);
  return value;
}

/**
 * `base` with each limit given on the command line in its place: whole numbers for seconds and processes,
 * sizes (parseByteSize) for bytes. None may pass its BUDGETS row, the most the wire allows.
 */
export function commandLimitsFromOptions(options: Partial<Record<keyof CommandLimits, string>>, base: CommandLimits): CommandLimits {
  const limits = { ...base };
  for (const key of Object.keys(COMMAND_LIMIT_OPTIONS) as (keyof CommandLimits)[]) {
    const text = options[key];
    if (text === undefined) continue;
    const flag = COMMAND_LIMIT_OPTIONS[key];
    const value = SIZED.has(key) ? parseByteSize(text, flag) : Number(text);
    if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`${flag} must be a positive whole number`);
    if (value > MAX_COMMAND_LIMITS[key]) throw new Error(`${flag} may be at most ${MAX_COMMAND_LIMITS[key]}`);
    limits[key] = value;
  }
  return limits;
}
