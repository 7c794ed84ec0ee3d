import { Command } from 'commander';
import { secondsOption as seconds } from '../core/cli/arguments';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parsePin } from '../core/identity';
import { CAPABILITIES, type Capability } from '../core/wire/policy';
import { DEFAULT_CLOCK_SKEW_MS, DEFAULT_STALENESS_MS, HOUR_MS } from '../core/policy/intent-gates';
import { HubClient } from './hub-client';
import { IntentRunner } from './intent-runner';
import { AGENT_DATABASE_FILE, openAgentDatabase, transactionRunner } from './store/agent-database';
import { RequestWindow } from './store/request-window';
import { SeenIntentStore } from './store/seen-intents';
import { TokenLedger } from './store/token-ledger';
import { WorkspaceSandbox } from './tools/sandbox';
import { createAgentLogger } from './log';
import { AGENT_KEY_FILE, AgentStateDir, defaultStateDir } from './state-dir';

const AGENT_VERSION = '0.1.0';


const program = new Command()
  .name('agent')
  .description('VaultysClaw agent: connects out to a pinned broker and runs verified intents in its workspace')
  .showHelpAfterError();

program
  .command('init')
  .description('create this agent\'s identity and pin the broker it will trust')
  .option('--state-dir <dir>', 'where the agent keeps its key and pin', defaultStateDir())
  .option('--broker <did-or-fingerprint>', 'the broker DID or fingerprint to pin (from "broker identity")')
  .option('--trust-on-first-use', 'pin whichever broker answers first (unsafe: only on a network you control)')
  .action((o: { stateDir: string; broker?: string; trustOnFirstUse?: boolean }) => {
    const state = new AgentStateDir(o.stateDir);
    if (existsSync(join(o.stateDir, AGENT_KEY_FILE))) throw new Error(`${o.stateDir} already holds an agent identity`);
    let brokerDid: string | null = null;
    if (o.broker) {
      brokerDid = parsePin(o.broker);
      if (!brokerDid) throw new Error(`"${o.broker}" is neither a broker DID nor a fingerprint`);
    } else if (!o.trustOnFirstUse) {
      throw new Error('give --broker <did-or-fingerprint> (or, knowingly, --trust-on-first-use)');
    }
    if (o.trustOnFirstUse && !o.broker) {
      process.stderr.write('WARNING: trust on first use: the first broker this agent reaches will be pinned without proof.\n');
    }
    const identity = state.create({ brokerDid, trustOnFirstUse: Boolean(o.trustOnFirstUse) && !brokerDid, pinnedAt: brokerDid ? Date.now() : null });
    process.stdout.write(`agent DID:   ${identity.did}\nfingerprint: ${identity.id.fingerprint}\npinned:      ${brokerDid ?? '(first broker seen)'}\n`);
  });

program
  .command('start')
  .description('connect to the broker and serve intents')
  .requiredOption('--broker-url <url>', 'broker hub URL, e.g. ws://127.0.0.1:8080')
  .option('--state-dir <dir>', 'agent state directory', defaultStateDir())
  .option('--workspace <dir>', 'the only directory tools may touch', process.cwd())
  .option('--name <name>', 'display name shown to the broker', process.env.HOSTNAME ?? 'agent')
  .option('--request <capabilities>', `capabilities to ask for (${CAPABILITIES.join(',')})`, 'read_file,list_files')
  .option('--staleness <seconds>', 'refuse intents issued longer ago than this', String(DEFAULT_STALENESS_MS / 1000))
  .option('--clock-skew <seconds>', 'clock difference allowed with the broker', String(DEFAULT_CLOCK_SKEW_MS / 1000))
  .action((o: { brokerUrl: string; stateDir: string; workspace: string; name: string; request: string; staleness: string; clockSkew: string }) => {
    const requested = o.request.split(',').map((c) => c.trim()).filter(Boolean);
    const unknown = requested.filter((c) => !(CAPABILITIES as readonly string[]).includes(c));
    if (unknown.length) throw new Error(`unknown capabilities: ${unknown.join(', ')}`);
    const stalenessMs = seconds(o.staleness, '--staleness');
    const state = new AgentStateDir(o.stateDir);
    const identity = state.identity();
    const log = createAgentLogger();
    const db = openAgentDatabase(join(o.stateDir, AGENT_DATABASE_FILE));
    const seen = new SeenIntentStore(db);
    const requests = new RequestWindow(db);
    const clockSkewMs = seconds(o.clockSkew, '--clock-skew');
    const prune = () => {
      const now = Date.now();
      seen.prune(now - stalenessMs - clockSkewMs);
      requests.prune(now - HOUR_MS);
    };
    prune();
    setInterval(prune, 60_000).unref();
    const runner = new IntentRunner({
      identity,
      sandbox: new WorkspaceSandbox(o.workspace),
      seen,
      requests,
      tokens: new TokenLedger(db),
      atomically: transactionRunner(db),
      stalenessMs,
      clockSkewMs,
      log,
    });
    const client = new HubClient({
      url: o.brokerUrl,
      identity,
      state,
      hello: { name: o.name, requested: requested as Capability[], agentVersion: AGENT_VERSION },
      runner,
      log,
      onRevoked: (reason) => {
        process.stderr.write(`agent: the broker ended this agent's registration (${reason}); not reconnecting\n`);
        db.close();
        process.exit(3);
      },
    });
    log.info({ event: 'agent.started', did: identity.did, workspace: o.workspace, url: o.brokerUrl }, 'agent started');
    client.start();
    const stop = () => {
      client.stop();
      db.close();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

program
  .command('status')
  .description('print this agent\'s identity and pinned broker')
  .option('--state-dir <dir>', 'agent state directory', defaultStateDir())
  .action((o: { stateDir: string }) => {
    const state = new AgentStateDir(o.stateDir);
    const identity = state.identity();
    const pin = state.pin();
    process.stdout.write(`agent DID:   ${identity.did}\nfingerprint: ${identity.id.fingerprint}\npinned:      ${pin.brokerDid ?? '(trust on first use)'}\n`);
  });

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`agent: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
