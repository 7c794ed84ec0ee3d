import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { SecretIdentity } from '../../core/identity';
import type { UserHello } from '../../core/rpc/user-auth';
import { inviteOnHost, readBrokerIdentity, type BrokerCli } from './broker-cli';
import type { RpcEndpoint } from '../../core/rpc/rpc-client';
import { rpcErrorReason } from '../../core/rpc/rpc-error';
import { BrokerSession, describeRpcError, needsInvitation } from './broker-session';
import { NodeNotFoundError, resolveNode } from './node-runtime';
import { PermanentConnectError, type Connected } from './supervisor';

/** The broker process as a JSON-RPC endpoint on its stdio; how it is spawned is the caller's (vscode-languageclient in the editor). */
export interface BrokerProcess {
  endpoint: RpcEndpoint;
  /** Resolves once, with why, when the process or its channel is gone. */
  closed: Promise<string>;
  stop(): Promise<void>;
}

export interface BrokerLaunch {
  command: string;
  /** Without --stdio: the launcher appends it. */
  args: string[];
  cwd: string;
}

export type LaunchBroker = (launch: BrokerLaunch) => Promise<BrokerProcess>;

export interface LocalSessionOptions {
  extensionPath: string;
  nodePathSetting: string;
  dataDir: string;
  hubPort: number;
  identity: SecretIdentity;
  hello: UserHello;
  launch: LaunchBroker;
  log: (level: 'info' | 'warn', message: string) => void;
  /** Where node is looked up when no setting names it. */
  pathValue?: string;
}

export interface LocalConnected extends Connected {
  cli: BrokerCli;
  dataDir: string;
}

/** Whether the hub port can be listened on now (a quick check for the common case: another broker already has it). */
export function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  if (port === 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** Where the packaged broker is: dist/broker.js beside dist/extension.js. */
export function brokerScriptPath(extensionPath: string): string {
  return join(extensionPath, 'dist', 'broker.js');
}

/**
 * Starts the broker the extension owns and proves the user's id to it. The
 * broker's DID is read from its data directory (created there if new) before
 * it starts, and pinned for the handshake: the process on the other end of
 * stdio must hold that key.
 */
export async function connectLocalBroker(o: LocalSessionOptions): Promise<LocalConnected> {
  let node;
  try {
    node = await resolveNode(o.nodePathSetting, o.pathValue ?? process.env.PATH);
  } catch (err) {
    if (err instanceof NodeNotFoundError) throw new PermanentConnectError(err.message, 'openSettings');
    throw err;
  }
  const brokerScript = brokerScriptPath(o.extensionPath);
  if (!existsSync(brokerScript)) throw new PermanentConnectError(`the extension is missing its broker (${brokerScript}); reinstall it, or run npm run build in a development checkout`);
  const cli: BrokerCli = { nodePath: node.path, brokerScript };
  o.log('info', `starting the local broker with Node ${node.version} (${node.path}, from ${node.source}), data in ${o.dataDir}`);
  if (!(await portIsFree(o.hubPort))) {
    throw new PermanentConnectError(
      `port ${o.hubPort} for the local broker's agent hub is in use (another broker?). Set vaultysclaw.hubPort to a free port, or 0 to pick one.`,
      'openSettings',
    );
  }
  const pin = await readBrokerIdentity(cli, o.dataDir);
  o.log('info', `local broker identity ${pin.did} (fingerprint ${pin.fingerprint}); pinned for this session`);

  const broker = await o.launch({ command: node.path, args: [brokerScript, 'start', '--data-dir', o.dataDir, '--port', String(o.hubPort)], cwd: o.extensionPath });
  let session: BrokerSession;
  try {
    try {
      session = await BrokerSession.open(broker.endpoint, o.identity, pin.did, o.hello);
    } catch (err) {
      if (!needsInvitation(err)) throw err;
      // A data directory another client enrolled in first: the host's operator (who holds the broker's own key anyway) invites this user.
      o.log('warn', 'this user key is not yet a user of the local broker; the host operator key invites it as an admin');
      const invitation = await inviteOnHost(cli, o.dataDir, 'admin');
      session = await BrokerSession.open(broker.endpoint, o.identity, pin.did, { ...o.hello, invitation });
    }
  } catch (err) {
    await broker.stop();
    const message = describeRpcError(err);
    if (rpcErrorReason(err) === 'broker-not-pinned') throw new PermanentConnectError(`the local broker proved another identity than the one in ${o.dataDir}: ${message}`);
    throw new Error(`could not authenticate to the local broker: ${message}`);
  }
  o.log('info', `authenticated to the local broker as ${session.user.name} (${session.user.did}), role ${session.role}`);
  return { session, label: 'local broker', closed: broker.closed, close: () => broker.stop(), cli, dataDir: o.dataDir, expectedRole: 'owner' };
}
