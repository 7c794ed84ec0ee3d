import type * as vscode from 'vscode';
import { CloseAction, ErrorAction, LanguageClient, RevealOutputChannelOn, State, TransportKind, type ServerOptions } from 'vscode-languageclient/node';
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

/**
 * Launches the broker with vscode-languageclient on stdio (the client adds
 * --stdio and sends initialize with this process id, so the broker also exits
 * if the extension host dies). The client never restarts it by itself: the
 * supervisor does, with backoff and a fresh user handshake.
 */
export function languageClientLauncher(brokerLog: vscode.LogOutputChannel, log: vscode.LogOutputChannel): LaunchBroker {
  return async (launch: BrokerLaunch): Promise<BrokerProcess> => {
    const recent: string[] = [];
    const executable = {
      command: launch.command,
      args: launch.args,
      transport: TransportKind.stdio,
      options: { cwd: launch.cwd, env: { ...process.env, ELECTRON_RUN_AS_NODE: undefined } },
    };
    const serverOptions: ServerOptions = { run: executable, debug: executable };
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
