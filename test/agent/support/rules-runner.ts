import pino from 'pino';
import { seal } from '../../../core/identity';
import { IntentRunner } from '../../../agent/intent-runner';
import { ResultOutbox } from '../../../agent/store/result-outbox';
import { SeenIntentStore } from '../../../agent/store/seen-intents';
import { transactionRunner } from '../../../agent/store/agent-database';
import { WorkspaceSandbox } from '../../../agent/tools/sandbox';
import type { ApprovalRequestBody } from '../../../core/wire/approval';
import type { IntentBody, ResultBody } from '../../../core/wire/intent';
import type { CertifiedPolicy } from '../../../core/wire/policy';
import type { PolicyRules } from '../../../core/wire/policy-rules';
import { waitFor } from '../../support/processes';
import type { ScriptedModel } from '../../support/scripted-model';
import { STALENESS_MS, SKEW_MS, type RunnerHarness } from '../../attacks/support/runner-harness';

/**
 * Starts `body` on the harness's runner with the session in force read from `h.session` at every moment, as the
 * hub connection gives it: a test that assigns h.session a new certificate while a call waits for reviewers is a
 * policy renewal in the middle of the wait. Resolves with the signed results for that intent.
 */
export async function dispatch(h: RunnerHarness, body: IntentBody): Promise<ResultBody[]> {
  await h.runner.handle(h.seal(body), h.session, () => h.session);
  return h.frames.flatMap((f) => (f.type === 'result' ? [h.verifyResult(f.envelope)] : [])).filter((r) => r.intentId === body.id);
}

/** The approval request the runner sent for `intentId` (the n-th one, for a task that asks several times). */
export function approvalRequest(h: RunnerHarness, intentId: string, nth = 0): Promise<ApprovalRequestBody> {
  return waitFor(`approval request ${nth} for ${intentId}`, () => h.approvalRequests().filter((r) => r.intentId === intentId)[nth], 10_000);
}

/** Lets the runner act on what it was just given (a settled wait resumes in later turns). */
export const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

/** Details of the decisions the waiter refused, in order. */
export const refusedDecisions = (h: RunnerHarness) => h.logs.filter((l) => l.event === 'approval.refused').map((l) => String(l.detail));

/** A certificate of the harness's policy with these rules. */
export function withRules(h: RunnerHarness, rules: PolicyRules | undefined, over: Partial<CertifiedPolicy> = {}): CertifiedPolicy {
  const { rules: _old, ...rest } = h.session.policy;
  return { ...rest, policyVersion: h.session.policy.policyVersion + 1, ...over, ...(rules ? { rules } : {}) };
}

/**
 * Replaces the harness's runner with one that has a model (agent start --model-url), on the same stores, workspace
 * and log: an llm_task's tool calls then meet the rules as a real agent's do.
 */
export function giveModel(h: RunnerHarness, model: ScriptedModel): void {
  const log = pino({ level: 'debug' }, { write: (line: string) => void h.logs.push(JSON.parse(line) as Record<string, unknown>) });
  h.runner = new IntentRunner({
    identity: h.agent,
    host: h.host,
    sandbox: new WorkspaceSandbox(h.workspace),
    seen: new SeenIntentStore(h.db),
    outbox: new ResultOutbox(h.db),
    requests: h.requests,
    tokens: h.tokens,
    atomically: transactionRunner(h.db),
    stalenessMs: STALENESS_MS,
    clockSkewMs: SKEW_MS,
    log,
    now: () => h.clock,
    model: {
      endpoint: { baseUrl: model.url, model: 'scripted-model', apiKey: null, maxCompletionTokens: 1000 },
      limits: { maxSteps: 5, timeLimitMs: 60_000, maxOutputChars: 4096 },
    },
  });
  h.runner.attach((frame) => h.frames.push(frame));
  h.runner.updateRevocations(seal(h.broker, 'vaultysclaw/revocation-list/v1', { version: 0, issuedAt: h.clock, delegations: [], users: [] }), h.session);
}
