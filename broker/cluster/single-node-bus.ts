import type { ClusterBus } from './cluster-bus';

/** One broker, no other node: nothing to tell, and no agent is connected anywhere else. */
export class SingleNodeBus implements ClusterBus {
  readonly connected = true;
  constructor(readonly nodeName = 'broker') {}
  broadcast(): void {}
  onBroadcast(): void {}
  async deliver(): Promise<'absent'> {
    return 'absent';
  }
  serveAgent(): () => void {
    return () => undefined;
  }
  async close(): Promise<void> {}
}
