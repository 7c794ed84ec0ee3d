import { readdirSync, readFileSync } from 'node:fs';
import { after } from 'node:test';
import { removeDirs, startAgent, startBroker, type AgentProcess, type BrokerProcess } from './processes';

/** Everything a test file started, so its hooks can tear it down whatever happened. */
export class Started {
  readonly agents: AgentProcess[] = [];
  readonly brokers: BrokerProcess[] = [];
  readonly dirs: string[] = [];

  async broker(options: Parameters<typeof startBroker>[0] = {}): Promise<BrokerProcess> {
    const broker = await startBroker(options);
    this.brokers.push(broker);
    this.dirs.push(broker.dataDir);
    return broker;
  }

  async agent(options: Parameters<typeof startAgent>[0]): Promise<AgentProcess> {
    const agent = await startAgent(options);
    this.agents.push(agent);
    this.dirs.push(agent.stateDir, agent.workspace);
    return agent;
  }

  /** Agents first, so none of them is left retrying against a broker that is gone. */
  async cleanup(): Promise<void> {
    for (const agent of this.agents.splice(0)) await agent.kill().catch(() => undefined);
    for (const broker of this.brokers.splice(0)) await broker.kill().catch(() => undefined);
    killStrayChildren();
    removeDirs(...this.dirs.splice(0));
  }
}

/**
 * A safety net for what the harness itself can leak (startBroker spawns the broker before its client
 * connects, and does not kill it when the connection fails): any broker or agent this test process
 * spawned and still has, killed by its pid.
 */
function killStrayChildren(): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      if (/dist\/(broker|agent)\.js/.test(readFileSync(`/proc/${entry}/cmdline`, 'utf8'))) process.kill(Number(entry), 'SIGKILL');
    } catch {
      // Gone already, or not ours to read.
    }
  }
}

/**
 * Bounded, whatever happens: if anything still holds this test process open a while after its last hook
 * starts (it happened intermittently under load with no handle of ours left), say what it is and exit with
 * the status the runner already set, instead of waiting for the runner's 5-minute file timeout. The delay
 * must exceed the file's own teardown, which runs after this hook starts its timer.
 */
export function exitIfHeldOpen(delayMs = 5000): void {
  after(() => {
    setTimeout(() => {
      process.stderr.write(`test: still alive ${delayMs} ms after the last hook began; active resources: ${JSON.stringify(process.getActiveResourcesInfo())}\n`);
      process.exit(process.exitCode ?? 0);
    }, delayMs).unref();
  });
}
