import { createConnection, ProposedFeatures } from 'vscode-languageserver/node';
import { bindRpc } from './rpc/rpc-handlers';
import { startBroker, type RunOptions } from './standalone';

/**
 * The extension's mode: JSON-RPC on stdin/stdout through vscode-languageserver,
 * plus the agent hub. The broker exits when its client goes away.
 */
export async function runStdio(options: RunOptions): Promise<void> {
  const running = await startBroker(options);
  const connection = createConnection(ProposedFeatures.all, process.stdin, process.stdout);
  const unbind = bindRpc(connection, running.broker, running.log.child({ transport: 'stdio' }), 'host');
  connection.onInitialize(() => ({
    capabilities: {},
    serverInfo: { name: 'vaultysclaw-broker', version: '0.1.0' },
  }));
  const stop = async () => {
    unbind();
    await running.stop();
    process.exit(0);
  };
  connection.onExit(() => void stop());
  process.stdin.on('end', () => void stop());
  connection.listen();
}
