import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';
/** How many times finish() sweeps a cgroup's members with SIGKILL before giving up on removing it. */
const KILL_SWEEPS = 50;
const SWEEP_PAUSE_MS = 20;

/** Where this host lets the agent make a cgroup per command, and in which hierarchy's file names. */
export interface CgroupLayout {
  version: 1 | 2;
  /** Parent directory for the per-command pids cgroup (v2: the one directory holding both controllers). */
  pids: string;
  /** Parent directory for the per-command memory cgroup, or null when only pids works (v1 without memory). */
  memory: string | null;
}

/** The agent's own cgroup path in one hierarchy, from /proc/self/cgroup ("7:pids:/a/b" or "0::/a/b"). */
function ownPath(controller: string | null): string | null {
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const [, controllers, path] = line.split(':');
    if (path === undefined) continue;
    if (controller === null ? controllers === '' : controllers!.split(',').includes(controller)) return path;
  }
  return null;
}

/** A child can be made, holds the limit file, and removed again: only then is the parent usable. */
function usableParent(parent: string, limitFile: string): boolean {
  const trial = join(parent, `vaultysclaw-probe-${process.pid}`);
  try {
    mkdirSync(trial);
  } catch {
    return false;
  }
  const usable = existsSync(join(trial, limitFile));
  rmdirSync(trial);
  return usable;
}

function probeLayout(): CgroupLayout | null {
  try {
    if (existsSync(join(CGROUP_ROOT, 'cgroup.controllers'))) {
      const own = ownPath(null);
      if (own === null) return null;
      const parent = join(CGROUP_ROOT, own);
      if (!usableParent(parent, 'pids.max')) return null;
      return { version: 2, pids: parent, memory: usableParent(parent, 'memory.max') ? parent : null };
    }
    const pidsOwn = ownPath('pids');
    if (pidsOwn === null) return null;
    const pids = join(CGROUP_ROOT, 'pids', pidsOwn);
    if (!usableParent(pids, 'pids.max')) return null;
    const memoryOwn = ownPath('memory');
    const memory = memoryOwn === null ? null : join(CGROUP_ROOT, 'memory', memoryOwn);
    return { version: 1, pids, memory: memory && usableParent(memory, 'memory.limit_in_bytes') ? memory : null };
  } catch {
    // No /proc/self/cgroup, no cgroup filesystem, no permission: commands fall back to rlimits alone.
    return null;
  }
}

let layout: CgroupLayout | null | undefined;

/** Probed once per agent process: whether and where per-command cgroups can be made on this host. */
export function cgroupLayout(): CgroupLayout | null {
  if (layout === undefined) {
    layout = probeLayout();
    if (layout) void removeOrphans(layout);
  }
  return layout;
}

/** Whether a process of that pid is alive (EPERM: alive, someone else's). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The cgroups an agent killed mid-command (kill -9, a crash) could not remove, found by the pid in their names:
 * whatever still runs in them is killed, and they are removed.
 */
async function removeOrphans(found: CgroupLayout): Promise<void> {
  try {
    for (const name of readdirSync(found.pids)) {
      const owner = /^vaultysclaw-(\d+)-\d+$/.exec(name);
      if (owner && !isAlive(Number(owner[1]))) await new CommandCgroup(found, name).destroy();
    }
  } catch {
    // Best effort: a leftover only holds a name until the next start.
  }
}

let serial = 0;

const counter = (text: string, key: string): number => Number(new RegExp(`^${key} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);

async function readOr(path: string, fallback: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return fallback;
  }
}

/**
 * One command's cgroup(s): a process count that holds for root (RLIMIT_NPROC does not) and covers processes
 * that left the command's process group, and a memory limit for the whole command, with the kernel's own
 * record of whether either was hit.
 */
export class CommandCgroup {
  readonly #dirs: string[];
  readonly #pidsDir: string;
  readonly #memoryDir: string | null;
  readonly #memoryEvents: string;

  constructor(layout: CgroupLayout, name: string) {
    this.#pidsDir = join(layout.pids, name);
    this.#memoryDir = layout.memory === null ? null : layout.version === 2 ? this.#pidsDir : join(layout.memory, name);
    this.#dirs = [...new Set([this.#pidsDir, ...(this.#memoryDir ? [this.#memoryDir] : [])])];
    this.#memoryEvents = layout.version === 2 ? 'memory.events' : 'memory.oom_control';
  }

  /** Made with its limits in place before any process joins it. */
  static create(layout: CgroupLayout, limits: { processes: number; memoryBytes: number }): CommandCgroup {
    const group = new CommandCgroup(layout, `vaultysclaw-${process.pid}-${++serial}`);
    const made: string[] = [];
    try {
      for (const dir of group.#dirs) {
        mkdirSync(dir);
        made.push(dir);
      }
      writeFileSync(join(group.#pidsDir, 'pids.max'), String(limits.processes));
      if (group.#memoryDir) writeFileSync(join(group.#memoryDir, layout.version === 2 ? 'memory.max' : 'memory.limit_in_bytes'), String(limits.memoryBytes));
    } catch (err) {
      for (const dir of made) rmdirSync(dir);
      throw err;
    }
    return group;
  }

  get limitsMemory(): boolean {
    return this.#memoryDir !== null;
  }

  /** The files the launcher writes its own pid into, so the command is inside before it can fork. */
  get procsFiles(): string[] {
    return this.#dirs.map((dir) => join(dir, 'cgroup.procs'));
  }

  async members(): Promise<number[]> {
    const text = await readOr(join(this.#pidsDir, 'cgroup.procs'), '');
    return text.split('\n').filter(Boolean).map(Number);
  }

  /** Whether a fork was refused at the process limit, and whether the kernel killed a member for memory. */
  async hits(): Promise<{ processes: boolean; memory: boolean }> {
    const pids = await readOr(join(this.#pidsDir, 'pids.events'), '');
    const memory = this.#memoryDir ? await readOr(join(this.#memoryDir, this.#memoryEvents), '') : '';
    return { processes: counter(pids, 'max') > 0, memory: counter(memory, 'oom_kill') > 0 };
  }

  /**
   * Kills every member, including those that left the process group (setsid) and would outlive the call,
   * then removes the cgroup. No fork can succeed once pids.max is 0, so a fork bomb cannot outrun the sweep.
   */
  async destroy(): Promise<void> {
    try {
      writeFileSync(join(this.#pidsDir, 'pids.max'), '0');
    } catch {
      // Already gone.
    }
    for (let sweep = 0; sweep < KILL_SWEEPS; sweep++) {
      const members = await this.members();
      for (const pid of members) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // ESRCH: exited since the list was read.
        }
      }
      if (this.#dirs.every((dir) => tryRmdir(dir))) return;
      await new Promise((resolve) => setTimeout(resolve, SWEEP_PAUSE_MS));
    }
  }
}

function tryRmdir(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}
