import { Methods, type MethodName, type ParamsOf, type ResultOf } from './methods';
import { RpcError } from './rpc-error';

/**
 * The two things a client needs from a JSON-RPC channel. A vscode-languageclient LanguageClient (the
 * extension's stdio broker) and a vscode-jsonrpc MessageConnection (local socket, /rpc WebSocket) both fit,
 * so the CLI and the extension share everything above it.
 */
export interface RpcEndpoint {
  sendRequest(method: string, params: unknown): Promise<unknown>;
  onNotification(method: string, handler: (params: unknown) => void): { dispose(): void };
}

/**
 * The one typed client of the method table, for the CLI and the extension alike. Params are typed by the
 * table and checked by the broker, which answers a mismatch with reason invalid-params; the result is
 * validated here too, so a broker of another version cannot hand the client a shape it does not understand.
 */
export class RpcClient {
  constructor(protected readonly endpoint: Pick<RpcEndpoint, 'sendRequest'>) {}

  async call<M extends MethodName>(name: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    const spec = Methods[name];
    const raw = await this.endpoint.sendRequest(spec.method, params);
    const result = spec.result.safeParse(raw);
    if (result.success) return result.data as ResultOf<M>;
    const issue = result.error.issues[0];
    throw new RpcError('invalid-result', `${spec.method} answered a result this client does not understand: ${issue?.path.join('.') || 'result'}: ${issue?.message ?? 'invalid'}`);
  }
}
