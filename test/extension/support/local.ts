import { join } from 'node:path';
import type { SecretIdentity } from '../../../core/identity';
import { connectLocalBroker, type LaunchBroker, type LocalConnected } from '../../../extension/connection/local-session';
import { generateUserIdentity } from '../../../extension/identity/user-key';
import { ROOT, tempDir } from '../../support/processes';
import { stdioLauncher, type LaunchedBroker } from './stdio-launcher';

/** Records every request the extension's code sends, to prove the views are fed by notifications, not polling. */
export function countingLauncher(inner: LaunchBroker, methods: string[]): LaunchBroker {
  return async (launch) => {
    const broker = await inner(launch);
    return {
      ...broker,
      endpoint: {
        sendRequest: (method, params) => {
          methods.push(method);
          return broker.endpoint.sendRequest(method, params);
        },
        onNotification: (method, handler) => broker.endpoint.onNotification(method, handler),
      },
    };
  };
}

/** The extension's local connection, as it runs in the editor but launched without vscode-languageclient. */
export async function connectLocal(options: {
  launched: LaunchedBroker[];
  dataDir?: string;
  identity?: SecretIdentity;
  name?: string;
  methods?: string[];
  /** Wraps the launcher (after the counting one): a test changes what the extension's code receives. */
  via?: (inner: LaunchBroker) => LaunchBroker;
}): Promise<LocalConnected & { identity: SecretIdentity }> {
  const identity = options.identity ?? generateUserIdentity();
  const stdio = options.methods ? countingLauncher(stdioLauncher(options.launched), options.methods) : stdioLauncher(options.launched);
  const launch = options.via ? options.via(stdio) : stdio;
  const connected = await connectLocalBroker({
    extensionPath: ROOT,
    nodePathSetting: process.execPath,
    dataDir: options.dataDir ?? join(tempDir('ext-broker'), 'broker'),
    hubPort: 0,
    identity,
    hello: { name: options.name ?? 'tester' },
    launch,
    log: () => undefined,
  });
  return { ...connected, identity };
}
