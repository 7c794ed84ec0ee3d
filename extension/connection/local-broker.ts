import { spawn, type ChildProcess } from 'node:child_process';
import type * as vscode from 'vscode';
import { CloseAction, ErrorAction, LanguageClient, RevealOutputChannelOn, State, type ServerOptions } from 'vscode-languageclient/node';
import { lastComplaint, LineSplitter, parseBrokerLogLine } from './broker-log';
import type { BrokerLaunch, BrokerProcess, LaunchBroker } from './local-session';

/**
 * The broker's stderr, as the language client hands it over, written to the
 * 'VaultysClaw Broker' log at each line's own level. The last lines are kept
 * to say why a broker stopped.
 */
function brokerOutput(channel: vscode.LogOutputChannel, recent: string[]): vscode.OutputChannel {
  const lines = new LineSplitter();
  const write = (text: string) => {
    for (const line of lines.push(text)) {
      const entry = parseBrokerLogLine(line);
      if (!entry) continue;
      channel[entry.level](entry.text);
      // Kept to explain a stop: the broker's own errors and crash output, not the client's notes or stack frames.
      if (entry.level === 'error' && !/^\[(Error|Info|Warn)\s+-/.test(entry.text) && !/^at\s/.test(entry.text)) {
        recent.push(entry.text);
        if (recent.length > 20) recent.shift();
      }
    }
  };
  return {
    name: channel.name,
    append: write,
    appendLine: (value: string) => write(`${value}\n`),
    replace: (value: string) => write(`${value}\n`),
    clear: () => channel.clear(),
    show: (...args: unknown[]) => channel.show(...(args as [boolean?])),
    hide: () => channel.hide(),
    dispose: () => undefined,
  };
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Waits for the process to exit after its shutdown; one that outstays the bound is killed. */
async function processGone(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.pid === undefined) return; // never started (spawn failed): nothing to wait for
  const exit = () => new Promise<void>((resolve) => (exited(child) ? resolve() : child.once('exit', () => resolve())));
  let timer: NodeJS.Timeout | undefined;
  const late = await Promise.race([exit().then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs)))]);
  clearTimeout(timer);
  if (!late) return;
  child.kill('SIGKILL');
  await exit();
}

/**
 * Launches the broker with vscode-languageclient on stdio (the client sends
 * initialize with this process id, so the broker also exits if the extension
 * host dies). The client never restarts it by itself: the supervisor does,
 * with backoff and a fresh user handshake.
 */
export function languageClientLauncher(brokerLog: vscode.LogOutputChannel, log: vscode.LogOutputChannel): LaunchBroker {
  return async (launch: BrokerLaunch): Promise<BrokerProcess> => {
    const recent: string[] = [];
    let child: ChildProcess | undefined;
    // Spawned here rather than by the client, so stopping can wait for the process to be gone: a restart
    // that started the next broker while the last one still held the hub port would fail on the port.
    const serverOptions: ServerOptions = async () => {
      child = spawn(launch.command, [...launch.args, '--stdio'], { cwd: launch.cwd, env: { ...process.env, ELECTRON_RUN_AS_NODE: undefined }, stdio: 'pipe' });
      child.once('error', (err) => closedWith(`the local broker could not run: ${err.message}`));
      child.once('exit', (code, signal) => closedWith(`the local broker stopped${signal ? ` (${signal})` : code ? ` (exit code ${code})` : ''}${lastComplaint(recent)}`));
      return child;
    };
    let ended = false;
    let resolveClosed: (why: string) => void = () => undefined;
    const closed = new Promise<string>((resolve) => (resolveClosed = resolve));
    const closedWith = (why: string) => {
      ended = true;
      resolveClosed(why);
    };
    const client = new LanguageClient('vaultysclaw', 'VaultysClaw Broker', serverOptions, {
      outputChannel: brokerOutput(brokerLog, recent),
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      errorHandler: {
        error: () => ({ action: ErrorAction.Shutdown, handled: true }),
        closed: () => {
          closedWith(`the local broker stopped${lastComplaint(recent)}`);
          return { action: CloseAction.DoNotRestart, handled: true };
        },
      },
      initializationFailedHandler: () => false,
      connectionOptions: { maxRestartCount: 0 },
    });
    client.onDidChangeState((e) => {
      if (e.newState === State.Stopped) closedWith(`the local broker stopped${lastComplaint(recent)}`);
    });
    const stop = async () => {
      try {
        // A broker that is already gone has nothing to shut down: only the client is disposed.
        if (!ended && client.state === State.Running) await client.stop(5000);
      } catch (err) {
        log.debug(`stopping the broker: ${(err as Error).message}`);
      }
      if (ended && client.state !== State.Stopped) {
        // Let the client finish noticing the exit first, or its dispose tries a shutdown on a dead connection.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 2000);
          const sub = client.onDidChangeState((e) => {
            if (e.newState !== State.Stopped) return;
            clearTimeout(timer);
            sub.dispose();
            resolve();
          });
        });
      }
      await client.dispose().catch(() => undefined);
      if (child) await processGone(child, 5000);
    };
    try {
      await client.start();
    } catch (err) {
      await stop();
      throw new Error(`the local broker did not start: ${(err as Error).message}${lastComplaint(recent)}`);
    }
    if (client.state !== State.Running) {
      await stop();
      throw new Error(`the local broker did not start${lastComplaint(recent)}`);
    }
    return {
      endpoint: {
        sendRequest: (method, params) => client.sendRequest(method, params) as Promise<unknown>,
        onNotification: (method, handler) => client.onNotification(method, handler as (params: unknown) => void),
      },
      closed,
      stop,
    };
  };
}
