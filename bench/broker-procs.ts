/**
 * Processes for the broker benchmark: a private build of the broker, the agent
 * and the simulated agents, the broker and real-agent child processes, the
 * simulated-agent processes, and what /proc says about them.
 *
 * Every child is registered in CHILDREN and killed (by its pid, SIGKILL) if
 * the bench exits without stopping it; every wait is bounded.
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, fdatasyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Request, SimConfig, Stats } from './sim-agents';

export const ROOT = resolve(__dirname, '..');
/** Inside node_modules so the bundles resolve better-sqlite3 and ws from the project (both gitignored). */
export const BUILD_DIR = join(ROOT, 'node_modules', '.cache', 'vaultysclaw-bench');

const CHILDREN = new Set<ChildProcess>();
let exitHook = false;

function track(child: ChildProcess): ChildProcess {
  CHILDREN.add(child);
  child.once('exit', () => CHILDREN.delete(child));
  if (!exitHook) {
    exitHook = true;
    // Last resort: whatever is still running when the bench exits dies with it.
    process.on('exit', () => {
      for (const c of CHILDREN) if (c.pid && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    });
  }
  return child;
}

/** Kills, one by one by pid, every child still running (used on failure paths). */
export function killAllChildren(): void {
  for (const c of CHILDREN) if (c.pid && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

export function tempDir(root: string, prefix: string): string {
  mkdirSync(root, { recursive: true });
  return mkdtempSync(join(root, `vc-bench-${prefix}-`));
}

/**
 * Bundles broker/main.ts, agent/main.ts and bench/sim-agents.ts with the
 * options of esbuild.mjs (CommonJS, node20, native modules external), so the
 * bench always measures the current source, never a stale dist/.
 */
export async function buildBundles(): Promise<{ dir: string; esbuild: string; ms: number }> {
  const started = Date.now();
  const esbuild = await import('esbuild');
  await esbuild.build({
    entryPoints: { broker: join(ROOT, 'broker/main.ts'), agent: join(ROOT, 'agent/main.ts'), 'sim-agents': join(ROOT, 'bench/sim-agents.ts') },
    outdir: BUILD_DIR,
    bundle: true,
    sourcemap: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['better-sqlite3', 'bufferutil', 'utf-8-validate'],
    logLevel: 'silent',
    legalComments: 'none',
  });
  return { dir: BUILD_DIR, esbuild: esbuild.version, ms: Date.now() - started };
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Polls a condition, bounded in time. */
export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** JSON log lines of a file a child writes its stderr to (read whole: only used while the file is small). */
function logLines(path: string): Record<string, unknown>[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a partial last line
    }
  }
  return out;
}

async function exited(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return new Promise((resolveExit) => {
    const timer = setTimeout(() => resolveExit(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolveExit(true);
    });
  });
}

const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isInteger(n) && n > 0 ? n : 100;
})();

/** VmRSS and VmHWM of a process, in KB, from /proc/<pid>/status. */
export function procMemory(pid: number): { rssKB: number; hwmKB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rssKB: field('VmRSS'), hwmKB: field('VmHWM') };
}

/** User + system CPU seconds of a process (all its threads), from /proc/<pid>/stat. */
export function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
}

export interface BrokerHandle {
  pid: number;
  url: string;
  port: number;
  did: string;
  dataDir: string;
  child: ChildProcess;
  memory(): { rssKB: number; hwmKB: number };
  cpuSeconds(): number;
  /** SIGTERM (a graceful stop: sockets closed, audit checkpoint, CPU profile written), SIGKILL after 20 s. */
  stop(): Promise<void>;
}

export interface BrokerStart {
  dataDir: string;
  port?: number;
  /** Passes --cpu-prof to node: a .cpuprofile is written there when the broker exits. */
  cpuProfDir?: string;
  /** Where the broker's stderr (its JSON log) goes. */
  stderrPath: string;
  /** More `broker start` flags (the audit-stream suite's --audit-https, the metrics suite's --metrics). */
  args?: string[];
}

/**
 * The whole simulated fleet connects and registers from 127.0.0.1 at once: the broker's budgets for strangers
 * (sockets not yet authenticated, pending registrations, per address and in all) are raised past its size, since
 * the bench measures capacity, not the defence (test/attacks/hub-edge.test.ts and pending-registrations.test.ts do).
 */
const FLEET_ON_LOOPBACK = ['--max-unauthenticated', '100000', '--max-unauthenticated-per-address', '100000', '--max-pending-registrations', '100000', '--max-pending-per-address', '100000'];

/** `broker start` from the bench build, on 127.0.0.1, at the default log level (info), stderr to a file. */
export async function startBroker(o: BrokerStart): Promise<BrokerHandle> {
  const err = openSync(o.stderrPath, 'a');
  const nodeArgs = o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : [];
  const child = track(
    spawn(process.execPath, [...nodeArgs, join(BUILD_DIR, 'broker.js'), 'start', '--data-dir', o.dataDir, '--host', '127.0.0.1', '--port', String(o.port ?? 0), ...FLEET_ON_LOOPBACK, ...(o.args ?? [])], {
      stdio: ['ignore', 'ignore', err],
      env: { ...process.env, VAULTYSCLAW_LOG_LEVEL: 'info' },
    }),
  );
  closeSync(err);
  let started: Record<string, unknown>;
  try {
    started = await waitFor(
      'the broker to start',
      () => {
        if (child.exitCode !== null) throw new Error(`broker exited with ${child.exitCode}: ${readFileSync(o.stderrPath, 'utf8').slice(-2000)}`);
        return logLines(o.stderrPath).find((l) => l.event === 'broker.started');
      },
      20_000,
    );
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  const url = String(started.url);
  const pid = child.pid!;
  return {
    pid,
    url,
    port: Number(new URL(url).port),
    did: String(started.did),
    dataDir: o.dataDir,
    child,
    memory: () => procMemory(pid),
    cpuSeconds: () => procCpuSeconds(pid),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      if (!(await exited(child, 20_000))) {
        child.kill('SIGKILL');
        await exited(child, 5_000);
      }
    },
  };
}

export interface RealAgentHandle {
  did: string;
  pid: number;
  stderrPath: string;
  child: ChildProcess;
  /** The agent's own log has a line of this event (read from its stderr file). */
  logged(event: string, match?: (l: Record<string, unknown>) => boolean): Record<string, unknown> | undefined;
  stop(): Promise<void>;
}

/** `agent init` pinned to the broker, then `agent start` from the bench build, asking for list_files only. */
export function startRealAgent(o: { brokerUrl: string; brokerDid: string; stateDir: string; workspace: string; stderrPath: string; cpuProfDir?: string }): RealAgentHandle {
  const script = join(BUILD_DIR, 'agent.js');
  const init = spawnSync(process.execPath, [script, 'init', '--state-dir', o.stateDir, '--broker', o.brokerDid], { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`agent init failed: ${init.stderr}`);
  const did = /agent DID:\s+(did:vaultys:[0-9a-f]{40})/.exec(init.stdout)?.[1];
  if (!did) throw new Error(`agent init printed no DID: ${init.stdout}`);
  mkdirSync(o.workspace, { recursive: true });
  const err = openSync(o.stderrPath, 'a');
  const child = track(
    spawn(
      process.execPath,
      [...(o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : []), script, 'start', '--state-dir', o.stateDir, '--broker-url', o.brokerUrl, '--workspace', o.workspace, '--name', 'bench-real-agent', '--request', 'list_files'],
      { stdio: ['ignore', 'ignore', err], env: { ...process.env, VAULTYSCLAW_LOG_LEVEL: 'info' } },
    ),
  );
  closeSync(err);
  return {
    did,
    pid: child.pid!,
    stderrPath: o.stderrPath,
    child,
    logged: (event, match = () => true) => logLines(o.stderrPath).find((l) => l.event === event && match(l)),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      if (!(await exited(child, 10_000))) {
        child.kill('SIGKILL');
        await exited(child, 5_000);
      }
    },
  };
}

type Reply = { id: number; error?: string } & Record<string, unknown>;
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

/** One forked simulated-agent process (bench/sim-agents.ts, bundled). */
export class SimProcess {
  readonly child: ChildProcess;
  #next = 1;
  readonly #pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();

  constructor() {
    this.child = track(fork(join(BUILD_DIR, 'sim-agents.js'), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: [] }));
    this.child.on('message', (m: Reply) => {
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      if (m.error) p.reject(new Error(`simulated agents: ${m.error}`));
      else p.resolve(m);
    });
    this.child.once('exit', (code, signal) => {
      for (const p of this.#pending.values()) p.reject(new Error(`simulated-agent process exited (${code ?? signal})`));
      this.#pending.clear();
    });
  }

  /** One request, bounded: the reply or an error after `timeoutMs`. */
  request<T extends Reply>(req: WithoutId<Request>, timeoutMs: number): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`simulated agents: no reply to ${req.t} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolvePromise(r as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.send({ ...req, id });
    });
  }

  config(config: SimConfig): Promise<Reply> {
    return this.request({ t: 'config', config }, 10_000);
  }

  status(): Promise<Stats> {
    return this.request<Reply & { stats: Stats }>({ t: 'status' }, 10_000).then((r) => r.stats);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await this.request({ t: 'stop' }, 10_000).catch(() => undefined);
    if (!(await exited(this.child, 5_000))) {
      this.child.kill('SIGKILL');
      await exited(this.child, 5_000);
    }
  }
}

/** fsync cost on the file system of `dir`: median microseconds of `n` fdatasync()s of a 4 KiB append. */
export function fsyncMicros(dir: string, n: number): { medianUs: number; p90Us: number } {
  const path = join(dir, `.fsync-probe-${process.pid}`);
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(4096, 1);
  const times: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const t = process.hrtime.bigint();
      writeSync(fd, block);
      fdatasyncSync(fd);
      times.push(Number(process.hrtime.bigint() - t) / 1000);
    }
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
  times.sort((a, b) => a - b);
  return { medianUs: times[Math.floor(n / 2)] ?? Number.NaN, p90Us: times[Math.floor(n * 0.9)] ?? Number.NaN };
}

/** The file system type of a directory (from /proc/self/mounts: the longest mount point that prefixes it). */
export function fsType(dir: string): string {
  let best = { point: '', type: 'unknown' };
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [, point, type] = line.split(' ');
    if (!point || !type) continue;
    if ((dir === point || dir.startsWith(point.endsWith('/') ? point : `${point}/`)) && point.length > best.point.length) best = { point, type };
  }
  return best.type;
}

export const defaultDataRoot = (): string => tmpdir();

/** Machine-wide CPU seconds from /proc/stat (all cores): busy (not idle, not iowait) and iowait. */
export function machineCpuSeconds(): { busy: number; iowait: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const [user = 0, nice = 0, system = 0, , iowait = 0, irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  return { busy: (user + nice + system + irq + softirq + steal) / CLK_TCK, iowait: iowait / CLK_TCK };
}

/** CPU use over a window: of the broker (its threads), of this process, of the simulated agents, of the whole machine. */
export class CpuWindow {
  readonly #start = process.hrtime.bigint();
  readonly #broker: number;
  readonly #self = process.cpuUsage();
  readonly #machine = machineCpuSeconds();

  constructor(
    private readonly brokerPid: number,
    private readonly simSeconds0 = 0,
  ) {
    this.#broker = procCpuSeconds(brokerPid);
  }

  /** Shares of one core (a process) or cores in use (machine), over the wall time since construction. */
  end(simSeconds1 = 0): { wallSeconds: number; broker: number; bench: number; simAgents: number; machineCores: number; otherCores: number; machineIowaitCores: number } {
    const wall = Number(process.hrtime.bigint() - this.#start) / 1e9;
    const self = process.cpuUsage(this.#self);
    const m = machineCpuSeconds();
    const broker = (procCpuSeconds(this.brokerPid) - this.#broker) / wall;
    const bench = (self.user + self.system) / 1e6 / wall;
    const simAgents = (simSeconds1 - this.simSeconds0) / wall;
    const machineCores = (m.busy - this.#machine.busy) / wall;
    return {
      wallSeconds: wall,
      broker,
      bench,
      simAgents,
      machineCores,
      // Everything else on the machine (a neighbour's tests, the kernel's share not charged to us): noise.
      otherCores: Math.max(0, machineCores - broker - bench - simAgents),
      machineIowaitCores: (m.iowait - this.#machine.iowait) / wall,
    };
  }
}

/**
 * The kernel's listen-queue counters (/proc/net/netstat, TcpExt; machine-wide, and the broker is the only
 * busy listener during the bench): ListenOverflows counts connections dropped because the accept queue was
 * full (the client retransmits its SYN after 1, 3, 7, 15, 31 s), SyncookiesSent SYN-queue overflows.
 */
export function listenCounters(): { listenOverflows: number; listenDrops: number; syncookiesSent: number } {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
  const i = lines.findIndex((l) => l.startsWith('TcpExt:'));
  const keys = lines[i]?.split(/\s+/) ?? [];
  const values = lines[i + 1]?.split(/\s+/) ?? [];
  const get = (name: string) => Number(values[keys.indexOf(name)] ?? Number.NaN);
  return { listenOverflows: get('ListenOverflows'), listenDrops: get('ListenDrops'), syncookiesSent: get('SyncookiesSent') };
}

export function countersSince<T extends Record<string, number>>(before: T, after: T): T {
  const out: Record<string, number> = {};
  for (const k of Object.keys(after)) out[k] = (after[k] ?? 0) - (before[k] ?? 0);
  return out as T;
}
