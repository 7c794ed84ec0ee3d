import { spawn, type ChildProcess } from 'node:child_process';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import { connectionEndpoint } from '../../../extension/connection/team-broker';
import type { BrokerLaunch, BrokerProcess, LaunchBroker } from '../../../extension/connection/local-session';
import { LogTail } from '../../support/processes';

export interface LaunchedBroker {
  child: ChildProcess;
  log: LogTail;
}

/**
 * What vscode-languageclient does for the extension, without a workbench:
 * spawns the command with --stdio appended, speaks JSON-RPC on its stdio,
 * and sends initialize with this process id before anything else.
 */
export function stdioLauncher(launched: LaunchedBroker[] = []): LaunchBroker {
  return async (launch: BrokerLaunch): Promise<BrokerProcess> => {
    const child = spawn(launch.command, [...launch.args, '--stdio'], {
      cwd: launch.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, VAULTYSCLAW_LOG_LEVEL: 'debug' },
    });
    const log = new LogTail();
    log.attach(child);
    launched.push({ child, log });
    const connection = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
    let closedWith: (why: string) => void = () => undefined;
    const closed = new Promise<string>((resolve) => (closedWith = resolve));
    child.once('exit', (code, signal) => closedWith(`the local broker stopped (${signal ?? `exit ${code}`})`));
    connection.onClose(() => closedWith('the local broker closed its channel'));
    connection.listen();
    await connection.sendRequest('initialize', { processId: process.pid, rootUri: null, capabilities: {} });
    await connection.sendNotification('initialized', {});
    const exited = () =>
      child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((resolve) => child.once('exit', () => resolve()));
    return {
      endpoint: connectionEndpoint(connection),
      closed,
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) {
          // As the language client stops a server: shutdown, then exit.
          await connection.sendRequest('shutdown').catch(() => undefined);
          await connection.sendNotification('exit').catch(() => undefined);
          const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exited();
          clearTimeout(timer);
        }
        connection.dispose();
      },
    };
  };
}

/** Kills what a test launched, by pid, whatever state it is in. */
export async function killLaunched(launched: LaunchedBroker[]): Promise<void> {
  for (const { child } of launched.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await gone;
  }
}
