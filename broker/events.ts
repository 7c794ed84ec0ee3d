import { EventEmitter } from 'node:events';
import type { AgentView, ApprovalView, IntentView, UserView } from '../core/rpc/views';

/** What the broker tells its clients; every RPC connection subscribes and forwards these as notifications. */
export interface BrokerEvents {
  agentChanged: [AgentView];
  registrationChanged: [AgentView];
  intentChanged: [IntentView];
  userChanged: [UserView];
  approvalChanged: [ApprovalView];
  /** `user` (the requester) and `agent` route the event (ProgressAudience); clients get the rest. */
  intentProgress: [{ intentId: string; user: string; agent: string; seq: number; stream: 'stdout' | 'stderr' | 'status'; text: string }];
}

export class BrokerEventBus extends EventEmitter<BrokerEvents> {
  constructor() {
    super();
    // One listener per connected client; a team broker can have many.
    this.setMaxListeners(0);
  }
}
