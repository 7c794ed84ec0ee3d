import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommandLimits, Confinement } from '../../core/wire/policy';
import { ToolFailure } from '../tools/types';
import type { WriteAllowance } from './host-rules';
import type { LaunchPart } from './launch-part';
import { CommandCgroup, isAlive, type CgroupLayout } from './command-cgroup';

export const LIMIT_NAMES = ['cpu', 'memory', 'processes', 'file-size', 'workspace-writes'] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];

const PRLIMIT = '/usr/bin/prlimit';
const SETPRIV = '/usr/bin/setpriv';
const REPORT_PREFIX = 'vaultysclaw-limits-';
/** How often a running command's CPU, writes and cgroup events are read: the lag before a limit stops it. */
const WATCH_INTERVAL_MS = 200;
/** /proc/<pid>/stat counts CPU in clock ticks (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;
/**
 * Processes the launch itself adds to the command's cgroup: the accountant, bwrap, and the reaper that is PID 1 in
 * the sandbox. Added to pids.max so the command gets the number the policy grants.
 */
const LAUNCHER_PROCESSES = 3;

/**
 * Runs on the host before bwrap. Joins the command's cgroups (so nothing forks outside them), runs the rest,
 * then writes its exit status and its own /proc stat and io into the report file: once the command is reaped,
 * those hold the CPU time and disk writes of every process it started, even those that ended between two
 * watches. It does not exec, so it stays the process-group leader the agent signals.
 */
const ACCOUNTANT = [
  'r=$1; shift',
  'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done',
  'shift',
  '"$@"',
  's=$?',
  '{ echo "$s"; cat /proc/$$/stat /proc/$$/io; } > "$r" 2>/dev/null',
  'exit $s',
].join('\n');

/**
 * PID 1 inside the sandbox, in place of bwrap's own reaper (bwrapArgs --as-pid-1): it reaps the command and every
 * orphan, then is itself reaped by bwrap, so their CPU time and disk writes reach the accountant (bwrap's reaper is
 * never reaped by bwrap, and what it collected was lost: measured, a 30 MB write counted 0). A command cannot kill
 * it: a PID namespace's init receives no signal from inside the namespace that it does not handle.
 */
const REAPER = [
  // The command's environment, and PID 1's, is the scrubbed one and nothing else: bwrap adds PWD, and a shell
  // exports one unless it is unset.
  '/usr/bin/env', '-u', 'PWD',
  '/bin/sh', '-c', 'unset PWD; "$@"', 'sh',
];

interface Usage {
  cpuSeconds: number;
  writtenBytes: number;
}

const statField = (stat: string, index: number): number => Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[index - 3] ?? 0);
const ioField = (io: string, key: string): number => Number(new RegExp(`^${key}: (\\d+)$`, 'm').exec(io)?.[1] ?? 0);

/**
 * What a process and the children it has reaped used: utime+stime+cutime+cstime (stat fields 14-17) and bytes
 * it sent toward a disk, less those it truncated before they reached it.
 */
function usageOf(stat: string, io: string): Usage {
  const ticks = statField(stat, 14) + statField(stat, 15) + statField(stat, 16) + statField(stat, 17);
  return { cpuSeconds: ticks / TICKS_PER_SECOND, writtenBytes: Math.max(0, ioField(io, 'write_bytes') - ioField(io, 'cancelled_write_bytes')) };
}

async function usageOfPid(pid: number): Promise<Usage> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const io = await readFile(`/proc/${pid}/io`, 'utf8');
    return usageOf(stat, io);
  } catch {
    return { cpuSeconds: 0, writtenBytes: 0 };
  }
}

/** The exit status of a command killed by `signal`, as sh and bwrap report it. */
const statusOfSignal = (signal: NodeJS.Signals) => 128 + constants.signals[signal];

/** One sentence for the command's output: which limit stopped it, at what value. */
export function limitMessage(limit: LimitName, limits: CommandLimits): string {
  switch (limit) {
    case 'cpu':
      return `stopped by the CPU limit: ${limits.cpuSeconds} CPU seconds`;
    case 'memory':
      return `stopped by the memory limit: ${limits.memoryBytes} bytes`;
    case 'processes':
      return `stopped by the process limit: ${limits.processes} processes at once`;
    case 'file-size':
      return `stopped by the file size limit: ${limits.fileBytes} bytes per file`;
    case 'workspace-writes':
      return `stopped by the workspace write allowance: ${limits.workspaceWriteBytes} bytes for all the commands of one intent`;
  }
}

/** The rlimits every process of the command starts with, inside the sandbox (prlimit execs the command). */
function rlimits(limits: CommandLimits, memoryInCgroup: boolean): string[] {
  return [
    PRLIMIT,
    // Soft then hard: SIGXCPU at the limit (its exit status names the limit), SIGKILL a second later if caught.
    `--cpu=${limits.cpuSeconds}:${limits.cpuSeconds + 1}`,
    `--fsize=${limits.fileBytes}`,
    // Not enforced for root; the cgroup's pids.max is what holds then.
    `--nproc=${limits.processes}`,
    // RLIMIT_DATA, not RLIMIT_AS: V8 reserves far more address space than it uses, and node dies at start under an
    // AS limit of 1 GiB; DATA counts only writable private memory. With a memory cgroup the whole command is
    // limited there instead, and the kernel records the kill.
    ...(memoryInCgroup ? [] : [`--data=${limits.memoryBytes}`]),
    '--',
  ];
}

/**
 * The resource-limits launch part of one command: rlimits inside, a cgroup when the host allows one, and a
 * watcher that stops the command once it passes its CPU seconds, its process or memory limit, or this intent's
 * remaining workspace write allowance, which it then spends from. `limits` are the policy's narrowed to the host's
 * ceilings, each at most its row in BUDGETS (commandCpuSeconds … commandWorkspaceWriteBytes) by the wire schema.
 */
export function resourceLimits(limits: CommandLimits, writes: WriteAllowance, layout: CgroupLayout | null): LaunchPart {
  // Without them the command would run without its limits, or outlive a killed agent: refuse instead.
  for (const tool of [PRLIMIT, SETPRIV]) {
    if (!existsSync(tool)) throw new ToolFailure('failed', `resource limits unavailable: ${tool} is missing (Debian package util-linux)`);
  }
  removeOrphanReports();
  if (writes.remainingBytes <= 0) throw new ToolFailure('failed', "this intent's workspace write allowance is spent: no further command may run");
  const reportDir = mkdtempSync(join(tmpdir(), `${REPORT_PREFIX}${process.pid}-`));
  let cgroup: CommandCgroup | null;
  try {
    cgroup = layout ? CommandCgroup.create(layout, { processes: limits.processes + LAUNCHER_PROCESSES, memoryBytes: limits.memoryBytes }) : null;
  } catch (err) {
    rmSync(reportDir, { recursive: true, force: true });
    throw err;
  }
  const report = join(reportDir, 'report');
  const allowance = writes.remainingBytes;
  let leader: number | null = null;
  let timer: NodeJS.Timeout | undefined;
  let watching = false;
  let stoppedBy: LimitName | null = null;
  let seen: Usage = { cpuSeconds: 0, writtenBytes: 0 };

  const measure = async (): Promise<Usage> => {
    // Parents before their children (a child's pid is higher, short of pid wrap-around): a child reaped into its
    // parent between the two reads is missed by this watch, never counted twice.
    const pids = (cgroup ? await cgroup.members() : leader === null ? [] : [leader]).sort((a, b) => a - b);
    let total: Usage = { cpuSeconds: 0, writtenBytes: 0 };
    for (const pid of pids) {
      const used = await usageOfPid(pid);
      total = { cpuSeconds: total.cpuSeconds + used.cpuSeconds, writtenBytes: total.writtenBytes + used.writtenBytes };
    }
    return total;
  };
  const passed = async (): Promise<LimitName | null> => {
    const hits = cgroup ? await cgroup.hits() : { processes: false, memory: false };
    if (hits.processes) return 'processes';
    if (hits.memory) return 'memory';
    if (seen.cpuSeconds > limits.cpuSeconds) return 'cpu';
    if (seen.writtenBytes > allowance) return 'workspace-writes';
    return null;
  };

  return {
    // Killed with the agent (bwrap's --die-with-parent then takes the sandbox down with it): a command must not
    // run on unsupervised after a kill -9 of the agent.
    outer: [SETPRIV, '--pdeathsig', 'KILL', '--', '/bin/sh', '-c', ACCOUNTANT, 'sh', report, ...(cgroup?.procsFiles ?? []), '--'],
    bwrapArgs: ['--as-pid-1'],
    inner: [...REAPER, ...rlimits(limits, cgroup?.limitsMemory ?? false)],
    started(pid, stop) {
      leader = pid;
      watching = true;
      const watch = async () => {
        if (!watching) return;
        try {
          const now = await measure();
          seen = { cpuSeconds: Math.max(seen.cpuSeconds, now.cpuSeconds), writtenBytes: Math.max(seen.writtenBytes, now.writtenBytes) };
          const limit = await passed();
          if (limit && watching) {
            stoppedBy ??= limit;
            stop(limit);
          }
        } catch {
          // A failed read is retried at the next watch; the final report still counts everything.
        }
        if (watching) timer = setTimeout(() => void watch(), WATCH_INTERVAL_MS);
      };
      timer = setTimeout(() => void watch(), WATCH_INTERVAL_MS);
    },
    async finish() {
      watching = false;
      clearTimeout(timer);
      const final = finalReport(report);
      rmSync(reportDir, { recursive: true, force: true });
      if (final) seen = { cpuSeconds: Math.max(seen.cpuSeconds, final.cpuSeconds), writtenBytes: Math.max(seen.writtenBytes, final.writtenBytes) };
      const hits = cgroup ? await cgroup.hits() : { processes: false, memory: false };
      await cgroup?.destroy();
      writes.remainingBytes = Math.max(0, allowance - seen.writtenBytes);
      return stoppedBy ?? whyEnded(final?.status ?? null, hits, seen, limits, allowance);
    },
  };
}

let reportsSwept = false;

/** Once per agent process: the report directories of agents killed mid-command (empty, 0700). */
function removeOrphanReports(): void {
  if (reportsSwept) return;
  reportsSwept = true;
  try {
    for (const name of readdirSync(tmpdir())) {
      const owner = new RegExp(`^${REPORT_PREFIX}(\\d+)-`).exec(name);
      if (owner && !isAlive(Number(owner[1]))) rmSync(join(tmpdir(), name), { recursive: true, force: true });
    }
  } catch {
    // Best effort: an empty directory left in the temporary directory.
  }
}

/** What the accountant wrote, or null when it was killed before it could (the watcher's figures stand). */
function finalReport(path: string): (Usage & { status: number }) | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  const [status, stat, ...io] = text.split('\n');
  if (!status || !stat) return null;
  return { status: Number(status), ...usageOf(stat, io.join('\n')) };
}

function whyEnded(status: number | null, hits: { processes: boolean; memory: boolean }, used: Usage, limits: CommandLimits, allowance: number): LimitName | null {
  if (hits.processes) return 'processes';
  if (hits.memory) return 'memory';
  if (status === statusOfSignal('SIGXCPU') || used.cpuSeconds >= limits.cpuSeconds) return 'cpu';
  if (status === statusOfSignal('SIGXFSZ')) return 'file-size';
  if (used.writtenBytes > allowance) return 'workspace-writes';
  return null;
}

/** Says in the hello when this host cannot make per-command cgroups, and what that leaves unlimited. */
export function withLimitsNote(confinement: Confinement, layout: CgroupLayout | null): Confinement {
  const note = !layout
    ? 'No cgroup could be made for commands: processes are limited by RLIMIT_NPROC only (not enforced when the agent runs as root), memory per process by RLIMIT_DATA, and workspace writes are counted as each command ends.'
    : !layout.memory
      ? 'No memory cgroup could be made for commands: memory is limited per process by RLIMIT_DATA.'
      : null;
  if (!note || confinement.mode === 'unavailable') return confinement;
  return { ...confinement, detail: `${confinement.detail} ${note}`.slice(0, 512) };
}
