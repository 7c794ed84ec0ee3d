import { after, afterEach } from 'node:test';
import type { Connected } from '../../../extension/connection/supervisor';
import { removeDirs, type AgentProcess } from '../../support/processes';
import { killLaunched, type LaunchedBroker } from './stdio-launcher';

/** What an extension test started, to end after it. */
export interface StartedByTest {
  /** Brokers the stdio launcher ran (connectLocal's `launched`). */
  launched: LaunchedBroker[];
  agents: AgentProcess[];
  /** Team-broker sessions it connected. */
  remotes: Connected[];
  dirs: string[];
}

/**
 * Ends after each test what it started: its sessions, then its agents, then its brokers, then its directories. The
 * process exits 5 s after the last test should a handle of the extension's code keep it open.
 */
export function endedAfterEach(): StartedByTest {
  const started: StartedByTest = { launched: [], agents: [], remotes: [], dirs: [] };
  afterEach(async () => {
    for (const r of started.remotes.splice(0)) await r.close().catch(() => undefined);
    for (const a of started.agents.splice(0)) await a.kill().catch(() => undefined);
    await killLaunched(started.launched);
    removeDirs(...started.dirs.splice(0));
  });
  after(() => {
    setTimeout(() => process.exit(process.exitCode ?? 0), 5000).unref();
  });
  return started;
}
