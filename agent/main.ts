import { Command } from 'commander';
import { secondsOption as seconds } from '../core/cli/arguments';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isRootDid } from '../core/authority/broker-pin';
import { parsePin } from '../core/identity';
import { normalizeFingerprint } from '../core/wire/broker-tls';
import { brokerEndpoint, brokerUrlList, brokerUrlProblem, loggableUrl } from '../core/wire/broker-url';
import { CAPABILITIES, type Capability, type Confinement } from '../core/wire/policy';
import { DEFAULT_CLOCK_SKEW_MS, DEFAULT_STALENESS_MS, HOUR_MS } from '../core/policy/intent-gates';
import { probeConfinement } from './confinement/probe';
import { commandLimitsFromOptions, MAX_COMMAND_LIMITS } from '../core/policy/command-limits';
import { cgroupLayout } from './confinement/command-cgroup';
import { withLimitsNote } from './confinement/resource-limits';
import { HubClient } from './hub-client';
import { IntentRunner } from './intent-runner';
import { AGENT_DATABASE_FILE, openAgentDatabase, transactionRunner } from './store/agent-database';
import { RequestWindow } from './store/request-window';
import { ResultOutbox } from './store/result-outbox';
import { SeenIntentStore } from './store/seen-intents';
import { TokenLedger } from './store/token-ledger';
import { MODEL_OPTION_DEFAULTS, modelSettingsFrom, type ModelOptions } from './task/model-settings';
import { MAX_TASK_STEPS } from '../core/wire/task';
import { WorkspaceSandbox } from './tools/sandbox';
import { createAgentLogger } from './log';
import { storageFailure } from '../core/storage/storage-failure';
import { AGENT_KEY_FILE, AgentStateDir, defaultStateDir } from './state-dir';
import { workspaceLayoutProblem } from './workspace-layout';

/** Sent in the hello; from 0.2.0 the broker names the intent of a refusal (readsRefusedIntentId); from 0.3.0 the hello states the agent's confinement; from 0.5.0 it reads an intent's `via` and a rule's `chosenBy` (readsIntentOrigin); from 0.6.0 it keeps the broker's audit head (readsAuditHead). */
const AGENT_VERSION = '0.6.0';

/**
 * Test-only: shifts this agent's clock for the intent gates, so the tests can
 * put broker and agent clocks apart without faketime. Read from the agent's
 * own environment, never from anything the broker sends.
 */
function testClock(): () => number {
  const raw = process.env.VAULTYSCLAW_TEST_CLOCK_OFFSET_MS;
  if (raw === undefined || raw === '') return Date.now;
  const offset = Number(raw);
  if (!Number.isSafeInteger(offset)) throw new Error('VAULTYSCLAW_TEST_CLOCK_OFFSET_MS must be an integer number of milliseconds');
  process.stderr.write(`agent: WARNING: test clock offset of ${offset} ms in force\n`);
  return () => Date.now() + offset;
}


const program = new Command()
  .name('agent')
  .description('VaultysClaw agent: connects out to a pinned broker and runs verified intents in its workspace')
  .showHelpAfterError();

program
  .command('init')
  .description('create this agent\'s identity and pin the broker it will trust')
  .option('--state-dir <dir>', 'where the agent keeps its key and pin', defaultStateDir())
  .option('--broker <did-or-fingerprint>', 'the broker root DID or fingerprint to pin (from "broker identity"); a broker DID for brokers without a root')
  .option('--trust-on-first-use', 'pin whichever broker answers first (unsafe: only on a network you control)')
  .option('--workspace <dir>', 'the workspace "agent start" will serve: refused now if it would contain the state directory')
  .action((o: { stateDir: string; broker?: string; trustOnFirstUse?: boolean; workspace?: string }) => {
    const state = new AgentStateDir(o.stateDir);
    if (existsSync(join(o.stateDir, AGENT_KEY_FILE))) throw new Error(`${o.stateDir} already holds an agent identity`);
    const layout = workspaceLayoutProblem(o.workspace ?? process.cwd(), o.stateDir);
    if (layout && o.workspace) throw new Error(layout);
    // Without --workspace, start defaults to its current directory: say now that this one will be refused.
    if (layout) process.stderr.write(`WARNING: "agent start" from this directory will refuse to run: ${layout}.\n`);
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
    process.stdout.write(`agent DID:   ${identity.did}\nfingerprint: ${identity.id.fingerprint}\npinned:      ${describePin(brokerDid)}\n`);
  });

program
  .command('start')
  .description('connect to the broker and serve intents')
  .requiredOption(
    '--broker-url <url>',
    'broker hub URL, e.g. ws://127.0.0.1:8080; for a cluster, every node\'s URL (repeat the flag or separate them with commas): the first is tried first, and after each dropped connection the next one in turn',
    (url: string, previous: string[] = []) => [...previous, url],
  )
  .option('--state-dir <dir>', 'agent state directory', defaultStateDir())
  .option('--workspace <dir>', 'the only directory tools may touch', process.cwd())
  .option('--name <name>', 'display name shown to the broker', process.env.HOSTNAME ?? 'agent')
  .option('--request <capabilities>', `capabilities to ask for (${CAPABILITIES.join(',')})`, 'read_file,list_files')
  .option('--staleness <seconds>', 'refuse intents issued longer ago than this', String(DEFAULT_STALENESS_MS / 1000))
  .option('--clock-skew <seconds>', 'clock difference allowed with the broker', String(DEFAULT_CLOCK_SKEW_MS / 1000))
  .option('--model-url <url>', 'llm_task: base URL of an OpenAI-compatible API (up to /chat/completions), e.g. https://api.openai.com/v1')
  .option('--model <name>', 'llm_task: the model to ask')
  .option('--model-key-env <variable>', 'llm_task: environment variable holding the API key')
  .option('--model-key-file <path>', 'llm_task: file holding the API key (mode 0600, outside the workspace)')
  .option('--model-max-tokens <n>', 'llm_task: completion tokens asked for per model call (less if the daily budget is nearly spent)', MODEL_OPTION_DEFAULTS.modelMaxTokens)
  .option('--task-max-steps <n>', `llm_task: most model calls per task (at most ${MAX_TASK_STEPS})`, MODEL_OPTION_DEFAULTS.taskMaxSteps)
  .option('--task-max-seconds <seconds>', 'llm_task: wall-clock limit of a task, reviewer waits included', MODEL_OPTION_DEFAULTS.taskMaxSeconds)
  .option('--task-max-output <chars>', 'llm_task: longest answer a task returns', MODEL_OPTION_DEFAULTS.taskMaxOutput)
  .option('--ca <file>', "PEM CA certificates the broker's TLS certificate must chain to (default: the system's)")
  .option('--tls-pin <sha256>', "SHA-256 fingerprint of the broker's TLS certificate: accept that certificate only (it may be self-signed)")
  .option('--allow-plain-ws', 'allow ws:// (unencrypted) to a host that is not a loopback address')
  .option(`--max-cpu-seconds <seconds>`, `CPU seconds one command may use, all its processes together (at most ${MAX_COMMAND_LIMITS.cpuSeconds}); narrows every policy`)
  .option(`--max-memory <size>`, `memory one command may use, e.g. 512M (at most ${MAX_COMMAND_LIMITS.memoryBytes} bytes); narrows every policy`)
  .option(`--max-processes <n>`, `processes one command may have at once (at most ${MAX_COMMAND_LIMITS.processes}); narrows every policy`)
  .option(`--max-file-size <size>`, `size of one file a command writes, e.g. 100M (at most ${MAX_COMMAND_LIMITS.fileBytes} bytes); narrows every policy`)
  .option(`--max-workspace-writes <size>`, `bytes the commands of one intent may write to disk, e.g. 1G (at most ${MAX_COMMAND_LIMITS.workspaceWriteBytes}); narrows every policy`)
  .option('--unconfined-commands', 'run commands WITHOUT the bubblewrap sandbox: they can read this user\'s files, the agent\'s keys included, and reach the network')
  .option('--egress-allow-loopback', 'let commands (through the egress proxy) and http_fetch reach loopback addresses of this host when allowedDomains names them (a local mirror); never the broker')
  .addHelpText(
    'after',
    '\nEvery command run_command starts (directly or in an llm_task) runs in a bubblewrap sandbox (bwrap, looked up on this\n' +
      'agent\'s PATH): the workspace read-write, /usr, /bin, /lib* and /etc (without its secrets) read-only, a private /tmp,\n' +
      'its own /proc, no network; home directories, the agent\'s state and key files, the model key, the host\'s /tmp and /run\n' +
      'are invisible. Without a working bwrap, run_command is refused (sandbox-unavailable) unless --unconfined-commands.\n' +
      'The model key is sent only to --model-url, never logged, never in a result or to the broker.\n' +
      'A task\'s tool calls pass the same gates as intents; its tokens count toward the certificate\'s daily budget.',
  )
  .action((o: { brokerUrl: string[]; stateDir: string; workspace: string; name: string; request: string; staleness: string; clockSkew: string; ca?: string; tlsPin?: string; allowPlainWs?: boolean; unconfinedCommands?: boolean; egressAllowLoopback?: boolean } & LimitOptions & ModelOptions) => {
    const brokerUrls = brokerUrlList(o.brokerUrl);
    if (brokerUrls.length === 0) throw new Error('give --broker-url <url>');
    for (const url of brokerUrls) {
      const urlProblem = brokerUrlProblem(url, Boolean(o.allowPlainWs), 'pass --allow-plain-ws');
      if (urlProblem) throw new Error(urlProblem);
    }
    if (o.tlsPin !== undefined && !normalizeFingerprint(o.tlsPin)) throw new Error('--tls-pin must be a SHA-256 fingerprint (64 hex digits, colons allowed)');
    const ceilings = commandLimitsFromOptions(
      { cpuSeconds: o.maxCpuSeconds, memoryBytes: o.maxMemory, processes: o.maxProcesses, fileBytes: o.maxFileSize, workspaceWriteBytes: o.maxWorkspaceWrites },
      MAX_COMMAND_LIMITS,
    );
    const requested = o.request.split(',').map((c) => c.trim()).filter(Boolean);
    const unknown = requested.filter((c) => !(CAPABILITIES as readonly string[]).includes(c));
    if (unknown.length) throw new Error(`unknown capabilities: ${unknown.join(', ')}`);
    const model = modelSettingsFrom(o, o.workspace);
    if (requested.includes('llm_task') && !model) throw new Error('llm_task needs a model: give --model-url and --model');
    const stalenessMs = seconds(o.staleness, '--staleness');
    const state = new AgentStateDir(o.stateDir);
    const identity = state.identity();
    state.checkPrivate();
    const layout = workspaceLayoutProblem(o.workspace, o.stateDir);
    if (layout) throw new Error(layout);
    const log = createAgentLogger();
    const db = openStateDatabase(o.stateDir);
    const seen = new SeenIntentStore(db);
    const requests = new RequestWindow(db);
    const clockSkewMs = seconds(o.clockSkew, '--clock-skew');
    const now = testClock();
    const prune = () => {
      const at = now();
      seen.prune(at - stalenessMs - clockSkewMs);
      requests.prune(at - HOUR_MS);
    };
    prune();
    setInterval(prune, 60_000).unref();
    const sandbox = new WorkspaceSandbox(o.workspace, { agentState: o.stateDir });
    const probed = probeConfinement({
      unconfined: Boolean(o.unconfinedCommands),
      path: process.env.PATH,
      workspace: sandbox.root,
      hidden: [resolve(o.stateDir), ...(o.modelKeyFile ? [resolve(o.modelKeyFile)] : [])],
      ceilings,
    });
    probed.confinement = withLimitsNote(probed.confinement, cgroupLayout());
    announceConfinement(probed.confinement, log);
    const runner = new IntentRunner({
      identity,
      host: {
        confinement: probed.confinement,
        sandbox: probed.sandbox,
        brokers: brokerUrls.map(brokerEndpoint),
        allowLoopback: Boolean(o.egressAllowLoopback),
      },
      sandbox,
      seen,
      outbox: new ResultOutbox(db),
      requests,
      tokens: new TokenLedger(db),
      atomically: transactionRunner(db),
      stalenessMs,
      clockSkewMs,
      log,
      model,
      now,
    });
    const client = new HubClient({
      urls: brokerUrls,
      identity,
      state,
      hello: { name: o.name, requested: requested as Capability[], agentVersion: AGENT_VERSION, confinement: runner.host.confinement },
      runner,
      log,
      clockSkewMs,
      tls: o.ca || o.tlsPin ? { ca: o.ca ? readFileSync(o.ca) : undefined, pinSha256: o.tlsPin } : undefined,
      now,
      onRevoked: (reason) => {
        process.stderr.write(`agent: the broker ended this agent's registration (${reason}); not reconnecting\n`);
        db.close();
        process.exit(3);
      },
    });
    log.info(
      { event: 'agent.started', did: identity.did, workspace: o.workspace, urls: brokerUrls.map(loggableUrl), model: model ? { url: model.endpoint.baseUrl, name: model.endpoint.model, limits: model.limits } : null },
      'agent started',
    );
    for (const url of brokerUrls.filter((u) => o.allowPlainWs && new URL(u).protocol === 'ws:')) {
      log.warn({ event: 'transport.insecure', url }, 'PLAIN ws:// TO A REMOTE HOST: traffic to the broker is not encrypted (--allow-plain-ws)');
    }
    if (o.egressAllowLoopback) {
      log.warn({ event: 'egress.loopback-allowed' }, 'commands and http_fetch may reach loopback services of this host that allowedDomains names (--egress-allow-loopback); never the broker');
    }
    client.start();
    const stop = () => {
      client.stop();
      db.close();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

/** agent start --max-*: the host's ceilings on every command's limits. */
interface LimitOptions {
  maxCpuSeconds?: string;
  maxMemory?: string;
  maxProcesses?: string;
  maxFileSize?: string;
  maxWorkspaceWrites?: string;
}

/** Says once, at start, on stderr and in the log, when commands will not run in the sandbox, and how to fix it. */
function announceConfinement(confinement: Confinement, log: ReturnType<typeof createAgentLogger>): void {
  if (confinement.mode === 'unconfined') {
    process.stderr.write(`agent: WARNING: UNCONFINED COMMANDS: ${confinement.detail}\n`);
    log.warn({ event: 'confinement.unconfined', detail: confinement.detail }, 'UNCONFINED COMMANDS (--unconfined-commands)');
  } else if (confinement.mode === 'unavailable') {
    process.stderr.write(`agent: ${confinement.detail}\n`);
    log.warn({ event: 'confinement.unavailable', detail: confinement.detail }, 'command sandbox unavailable: run_command refused');
  } else {
    log.info({ event: 'confinement.sandboxed' }, 'commands run in a bubblewrap sandbox');
  }
}

/** A state directory the agent cannot write is one clear error, not "unable to open database file". */
function openStateDatabase(stateDir: string) {
  try {
    return openAgentDatabase(join(stateDir, AGENT_DATABASE_FILE));
  } catch (err) {
    const storage = storageFailure(err);
    if (storage) throw new Error(`cannot use the state directory ${stateDir}: ${storage}; it must be writable by this user, on a disk with free space`);
    throw err;
  }
}

program
  .command('status')
  .description('print this agent\'s identity and pinned broker')
  .option('--state-dir <dir>', 'agent state directory', defaultStateDir())
  .action((o: { stateDir: string }) => {
    const state = new AgentStateDir(o.stateDir);
    const identity = state.identity();
    const pin = state.pin();
    process.stdout.write(`agent DID:   ${identity.did}\nfingerprint: ${identity.id.fingerprint}\npinned:      ${pin.brokerDid ? describePin(pin.brokerDid) : '(trust on first use)'}\n`);
  });

function describePin(did: string | null): string {
  if (!did) return '(first broker seen)';
  return isRootDid(did) ? `${did} (broker root: any broker id it certifies)` : `${did} (broker id)`;
}

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`agent: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
