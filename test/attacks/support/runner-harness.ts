import { testHostRules } from '../../agent/tools/fixtures';
import type { HostRules } from '../../../agent/confinement/host-rules';
import { MAX_COMMAND_LIMITS } from '../../../core/policy/command-limits';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { IntentRunner, type CertifiedSession } from '../../../agent/intent-runner';
import { openAgentDatabase, AGENT_DATABASE_FILE, transactionRunner, type AgentDatabase } from '../../../agent/store/agent-database';
import { RequestWindow } from '../../../agent/store/request-window';
import { ResultOutbox } from '../../../agent/store/result-outbox';
import { SeenIntentStore } from '../../../agent/store/seen-intents';
import { TokenLedger } from '../../../agent/store/token-ledger';
import { WorkspaceSandbox } from '../../../agent/tools/sandbox';
import { decodeCanonical, IdType, open, seal, SecretIdentity, type SealedEnvelope } from '../../../core/identity';
import { DEFAULT_CLOCK_SKEW_MS, DEFAULT_STALENESS_MS } from '../../../core/policy/intent-gates';
import { ApprovalRequestBody, type ApprovalDecisionBundle } from '../../../core/wire/approval';
import type { DelegationBody } from '../../../core/wire/delegation';
import type { AgentFrame } from '../../../core/wire/hub-messages';
import { ResultBody, type IntentBody, type RejectionReason } from '../../../core/wire/intent';
import type { CertifiedPolicy } from '../../../core/wire/policy';

/** 2026-07-01T12:00:00Z: far from a UTC day boundary, so token-day arithmetic is unambiguous. */
export const T0 = Date.UTC(2026, 6, 1, 12, 0, 0);
export const STALENESS_MS = DEFAULT_STALENESS_MS;
export const SKEW_MS = DEFAULT_CLOCK_SKEW_MS;
const HOUR = 60 * 60_000;

export function policy(overrides: Partial<CertifiedPolicy> = {}): CertifiedPolicy {
  return {
    status: 'approved',
    policyId: 'policy:attack-test',
    policyVersion: 1,
    capabilities: ['read_file', 'list_files', 'write_file'],
    approvalRequired: [],
    maxTokensPerDay: 100_000,
    maxRequestsPerHour: 1000,
    policyExpiresAt: T0 + 30 * 24 * 60 * 60_000,
    approvalTimeoutMs: 60_000, allowedDomains: [], commandLimits: MAX_COMMAND_LIMITS,
    ...overrides,
  };
}

/**
 * The real IntentRunner with real SQLite stores and a real sandbox in a temp
 * directory. The test holds the broker's key (the runner trusts it through the
 * CertifiedSession, as after a verified handshake) and reads every frame the
 * runner sends.
 */
export class RunnerHarness {
  readonly base: string;
  readonly workspace: string;
  readonly dbPath: string;
  readonly broker = SecretIdentity.generate(IdType.Machine);
  readonly agent = SecretIdentity.generate(IdType.Machine);
  readonly user = SecretIdentity.generate(IdType.Person);
  readonly reviewer = SecretIdentity.generate(IdType.Person);
  readonly frames: AgentFrame[] = [];
  readonly logs: Record<string, unknown>[] = [];
  clock = T0;
  session: CertifiedSession;
  db!: AgentDatabase;
  tokens!: TokenLedger;
  requests!: RequestWindow;
  runner!: IntentRunner;

  constructor(
    certified: CertifiedPolicy = policy(),
    /** The agent host's rules (its broker address, --egress-allow-loopback). */
    readonly host: HostRules = testHostRules(),
  ) {
    this.base = mkdtempSync(join(tmpdir(), 'vc-attack-runner-'));
    this.workspace = join(this.base, 'ws');
    mkdirSync(this.workspace);
    this.dbPath = join(this.base, AGENT_DATABASE_FILE);
    this.session = { broker: this.broker.id, policy: certified };
    this.#open();
  }

  #open(): void {
    this.db = openAgentDatabase(this.dbPath);
    this.tokens = new TokenLedger(this.db);
    this.requests = new RequestWindow(this.db);
    const log = pino({ level: 'debug' }, { write: (line: string) => void this.logs.push(JSON.parse(line) as Record<string, unknown>) });
    this.runner = new IntentRunner({
      identity: this.agent,
      host: this.host,
      sandbox: new WorkspaceSandbox(this.workspace),
      seen: new SeenIntentStore(this.db),
      outbox: new ResultOutbox(this.db),
      requests: this.requests,
      tokens: this.tokens,
      atomically: transactionRunner(this.db),
      stalenessMs: STALENESS_MS,
      clockSkewMs: SKEW_MS,
      log,
      now: () => this.clock,
    });
    this.runner.attach((frame) => this.frames.push(frame));
    // What the broker pushes after every handshake: the current signed revocation list (here: nothing revoked, v0).
    this.runner.updateRevocations(
      seal(this.broker, 'vaultysclaw/revocation-list/v1', { version: 0, issuedAt: this.clock, delegations: [], users: [] }),
      this.session,
    );
  }

  /** A broker-signed delegation of `user` to this agent for the capabilities given. */
  delegation(overrides: Partial<DelegationBody> = {}): SealedEnvelope {
    const body: DelegationBody = {
      id: randomBytes(16).toString('hex'),
      user: this.user.did,
      agent: this.agent.did,
      capabilities: ['read_file', 'list_files', 'write_file', 'run_command'],
      issuedAt: this.clock,
      expiresAt: this.clock + 24 * HOUR,
      ...overrides,
    };
    return seal(this.broker, 'vaultysclaw/delegation/v1', body);
  }

  /** A simulated agent restart: the database is closed and a new runner opens the same file. */
  restart(): void {
    this.db.close();
    this.#open();
  }

  intent(overrides: Partial<IntentBody> = {}): IntentBody {
    return {
      id: randomBytes(16).toString('hex'),
      agent: this.agent.did,
      capability: 'list_files',
      params: { path: '.' },
      user: this.user.did,
      delegation: this.delegation(),
      revocationVersion: 0,
      issuedAt: this.clock,
      expiresAt: this.clock + STALENESS_MS,
      ...overrides,
    };
  }

  seal(body: IntentBody, signer: SecretIdentity = this.broker): SealedEnvelope {
    return seal(signer, 'vaultysclaw/intent/v1', body);
  }

  /**
   * Hands one envelope to the runner and returns the results it sent for it
   * (those bound to the id the envelope claims, when it decodes), each verified
   * with the agent's key.
   */
  async deliver(envelope: SealedEnvelope): Promise<ResultBody[]> {
    const before = this.frames.length;
    const decoded = decodeCanonical(envelope.payload);
    const claimed = decoded.ok ? (decoded.value as { body?: { id?: unknown } } | null)?.body?.id : undefined;
    await this.runner.handle(envelope, this.session);
    return this.frames
      .slice(before)
      .flatMap((frame) => (frame.type === 'result' ? [this.verifyResult(frame.envelope)] : []))
      .filter((r) => typeof claimed !== 'string' || r.intentId === claimed);
  }

  verifyResult(envelope: SealedEnvelope): ResultBody {
    const opened = open(this.agent.id, 'vaultysclaw/result/v1', envelope);
    if (!opened.ok) assert.fail(`result envelope does not verify with the agent key: ${opened.reason}`);
    const parsed = ResultBody.safeParse(opened.body);
    if (!parsed.success) assert.fail('result body does not match ResultBody');
    assert.equal(parsed.data.agent, this.agent.did);
    return parsed.data;
  }

  /** Delivers and expects exactly one signed refusal with `reason`, bound to `intentId`. */
  async expectRefused(envelope: SealedEnvelope, intentId: string, reason: RejectionReason): Promise<ResultBody> {
    const results = await this.deliver(envelope);
    assert.equal(results.length, 1, `expected one result, got ${JSON.stringify(results)}`);
    const result = results[0]!;
    assert.equal(result.intentId, intentId);
    assert.equal(result.outcome, 'rejected', `expected a refusal, got ${result.outcome}: ${result.message}`);
    assert.equal(result.reason, reason, result.message);
    assert.equal(result.output, null);
    return result;
  }

  async expectSucceeded(envelope: SealedEnvelope, intentId: string): Promise<ResultBody> {
    const results = await this.deliver(envelope);
    assert.equal(results.length, 1);
    const result = results[0]!;
    assert.equal(result.intentId, intentId);
    assert.equal(result.outcome, 'succeeded', `expected success, got ${result.outcome} ${result.reason}: ${result.message}`);
    return result;
  }

  /** Signed approval requests the runner sent (it pauses on a tool that needs a reviewer). */
  approvalRequests(): ApprovalRequestBody[] {
    return this.frames.flatMap((frame) => {
      if (frame.type !== 'approval/request') return [];
      const opened = open(this.agent.id, 'vaultysclaw/approval-request/v1', frame.envelope);
      if (!opened.ok) assert.fail(`approval request does not verify with the agent key: ${opened.reason}`);
      return [ApprovalRequestBody.parse(opened.body)];
    });
  }

  /** A reviewer's decision, countersigned by the broker, as the broker would relay it. */
  decision(request: ApprovalRequestBody, decision: 'approve' | 'reject', reviewer: SecretIdentity = this.reviewer): ApprovalDecisionBundle {
    const signed = seal(reviewer, 'vaultysclaw/approval-decision/v1', {
      requestId: request.requestId,
      intentId: request.intentId,
      agent: request.agent,
      decision,
      reason: null,
      reviewer: reviewer.did,
      decidedAt: this.clock,
    });
    const countersignature = seal(this.broker, 'vaultysclaw/approval-countersign/v1', {
      requestId: request.requestId,
      reviewer: reviewer.did,
      decisionSha256: createHash('sha256').update(signed.payload).digest('hex'),
      countersignedAt: this.clock,
    });
    return { decision: signed, reviewerId: reviewer.id.bytes, countersignature };
  }

  executedCount(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM executed_requests').get() as { n: number }).n;
  }

  cleanup(): void {
    try {
      this.db.close();
    } catch {
      // already closed
    }
    rmSync(this.base, { recursive: true, force: true });
  }
}
