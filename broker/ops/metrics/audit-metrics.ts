import { Counter, Histogram, type Registry } from 'prom-client';
import type { AppendedEntry } from '../../audit/chained-destination';
import { OTHER, capabilityLabel, checkpointReasonLabel, handshakeReason } from './labels';

/** The handshake a line records, from the fields the hub and /rpc write (core/audit/events.ts). */
type Handshake = { kind: 'agent' | 'user'; outcome: 'ok' | 'refused'; reason: string };

/**
 * Counters read off the audit lines as audit.log takes them: what the metrics say happened is what the log says
 * happened, line for line, since both come from the one append. Refusals the hub only counted into an
 * `auth.refused-summary` line are counted from its per-reason counts.
 */
export class AuditMetrics {
  readonly #lines: Counter;
  readonly #checkpoints: Counter<'reason'>;
  readonly #handshakes: Counter<'kind' | 'outcome' | 'reason'>;
  readonly #approvalsRequested: Counter<'capability'>;
  readonly #revocationLists: Counter;
  readonly #revocationAgents: Counter;
  readonly #fanOut: Histogram;

  constructor(registry: Registry) {
    const registers = [registry];
    this.#lines = new Counter({ name: 'vaultysclaw_audit_lines_total', help: 'Lines appended to audit.log since the metrics listener started', registers });
    this.#checkpoints = new Counter({ name: 'vaultysclaw_audit_checkpoints_total', help: 'Signed audit checkpoints written, by why', labelNames: ['reason'], registers });
    this.#handshakes = new Counter({
      name: 'vaultysclaw_handshakes_total',
      help: 'Handshakes of agents (hub) and users (/rpc), by outcome and, when refused, why',
      labelNames: ['kind', 'outcome', 'reason'],
      registers,
    });
    this.#approvalsRequested = new Counter({ name: 'vaultysclaw_approvals_requested_total', help: 'Tool approvals agents asked for, by capability', labelNames: ['capability'], registers });
    this.#revocationLists = new Counter({ name: 'vaultysclaw_revocation_lists_pushed_total', help: 'New revocation lists pushed to the connected agents', registers });
    this.#revocationAgents = new Counter({ name: 'vaultysclaw_revocation_agents_told_total', help: 'Agents a revocation list was pushed to, summed over lists', registers });
    this.#fanOut = new Histogram({
      name: 'vaultysclaw_revocation_fan_out_seconds',
      help: 'Time to hand one revocation list to every connected agent',
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
      registers,
    });
  }

  /** One appended line (ChainedDestination.onAppend). */
  count(entry: AppendedEntry): void {
    this.#lines.inc();
    const fields = entry.fields;
    switch (fields.event) {
      case 'audit.checkpoint':
        this.#checkpoints.inc({ reason: checkpointReasonLabel(fields.reason) });
        return;
      case 'auth.succeeded':
      case 'auth.refused':
      case 'auth.timeout': {
        this.#handshakes.inc(handshakeOf(fields));
        return;
      }
      case 'auth.refused-summary':
        this.#countSummary(fields.reasons);
        return;
      case 'approval.requested':
        this.#approvalsRequested.inc({ capability: capabilityLabel(fields.capability) });
        return;
      case 'revocations.published':
        this.#revocationLists.inc();
        if (typeof fields.agents === 'number' && fields.agents >= 0) this.#revocationAgents.inc(fields.agents);
        if (typeof fields.fanOutMs === 'number' && fields.fanOutMs >= 0) this.#fanOut.observe(fields.fanOutMs / 1000);
        return;
    }
  }

  /** `reasons` is `{ "<event>:<code>": count }` (broker/hub/refusal-audit.ts), `other` past its key budget. */
  #countSummary(reasons: unknown): void {
    if (typeof reasons !== 'object' || reasons === null) return;
    for (const [key, count] of Object.entries(reasons)) {
      if (typeof count !== 'number' || !(count > 0)) continue;
      const at = key.indexOf(':');
      const event = at < 0 ? key : key.slice(0, at);
      const code = at < 0 ? OTHER : key.slice(at + 1);
      if (event === 'auth.succeeded') this.#handshakes.inc({ kind: 'agent', outcome: 'ok', reason: 'none' }, count);
      else if (event === 'auth.refused' || event === 'auth.timeout') this.#handshakes.inc({ kind: 'agent', outcome: 'refused', reason: handshakeReason(code) }, count);
      // Keys merged into `other` may be handshakes or other refusals of the hub's edge: counted as a refusal whose reason is not known.
      else if (key === OTHER) this.#handshakes.inc({ kind: 'agent', outcome: 'refused', reason: OTHER }, count);
    }
  }
}

function handshakeOf(fields: Record<string, unknown>): Handshake {
  const kind = fields.kind === 'user' ? 'user' : 'agent';
  if (fields.event === 'auth.succeeded') return { kind, outcome: 'ok', reason: 'none' };
  if (fields.event === 'auth.timeout') return { kind, outcome: 'refused', reason: 'handshake-timeout' };
  // The hub's refusal of an agent carries `code`; /rpc's of a user (`kind: 'user'`), and the broker's own of a rejected
  // or revoked agent, `reason`. Each refused handshake writes one of them.
  if (typeof fields.code === 'string') return { kind, outcome: 'refused', reason: handshakeReason(fields.code) };
  return { kind, outcome: 'refused', reason: handshakeReason(fields.reason) };
}
