import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type pino from 'pino';
import { guarded } from '../../../core/io/guarded';
import type { ApprovalView, IntentView } from '../../../core/rpc/views';
import type { Broker } from '../../broker';
import { auditDestinationOf } from '../../log';
import type { StorageOp } from '../../store/storage-timing';
import type { AppendedEntry } from '../../audit/chained-destination';
import { AuditMetrics } from './audit-metrics';
import { approvalStateLabel, capabilityLabel, intentStateLabel, registrationLabel } from './labels';

/** The audit events that end an intent, and the final state each records. */
const FINAL_LINES: Record<string, (fields: Record<string, unknown>) => string> = {
  'intent.refused': () => 'refused',
  'intent.result': (fields) => (fields.outcome === 'succeeded' || fields.outcome === 'failed' || fields.outcome === 'rejected' ? fields.outcome : 'other'),
  'intent.lost': () => 'lost-agent',
  'intent.cancelled': () => 'cancelled',
};

/**
 * How often the event loop's delay is sampled (prom-client's default, 10 ms, wakes an idle broker 100 times a
 * second: measured here, that doubled its idle CPU; at 100 ms it costs nothing measurable).
 */
const EVENT_LOOP_SAMPLE_MS = 100;

const SECONDS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export interface BrokerMetrics {
  registry: Registry;
  stop(): void;
}

/**
 * The broker's metrics on a registry of their own (never prom-client's global one, which any other module in the
 * process could fill): counters from the audit lines as they are written, gauges read from the broker's state at
 * scrape time, histograms from the intents' and approvals' own timestamps, storage latency from the database.
 */
export function startBrokerMetrics(broker: Broker, log: pino.Logger): BrokerMetrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  const fromAudit = new AuditMetrics(registry);
  const errors = new Counter({ name: 'vaultysclaw_metrics_errors_total', help: 'Events the metrics could not count (see stderr)', registers });

  new Gauge({
    name: 'vaultysclaw_agents',
    help: 'Agents in the lists, by registration status',
    labelNames: ['status'],
    registers,
    async collect() {
      const counts = await broker.registry.countByStatus();
      this.reset();
      for (const { status, n } of counts) this.inc({ status: registrationLabel(status) }, n);
    },
  });
  new Gauge({ name: 'vaultysclaw_agents_online', help: 'Agents connected and authenticated', registers, collect() { this.set(broker.online.size); } });
  new Gauge({ name: 'vaultysclaw_hub_sockets', help: "Sockets the agent hub holds, authenticated or not, /rpc's included", registers, collect() { this.set(broker.hubStatus().sockets); } });
  new Gauge({ name: 'vaultysclaw_cluster_bus_up', help: 'Whether this node reaches the other nodes of its cluster (1; always 1 on a single broker)', registers, collect() { this.set(broker.cluster.connected ? 1 : 0); } });
  new Gauge({ name: 'vaultysclaw_approvals_pending', help: 'Tool approvals waiting for a reviewer', registers, async collect() { this.set(await broker.approvals.pendingCount()); } });

  const intents = new Counter({ name: 'vaultysclaw_intents_total', help: 'Intents that reached a final state, by capability and that state', labelNames: ['capability', 'state'], registers });
  const roundTrip = new Histogram({ name: 'vaultysclaw_intent_round_trip_seconds', help: 'From dispatch to final state, by capability (intents the broker sent)', labelNames: ['capability'], buckets: SECONDS, registers });
  const queued = new Histogram({ name: 'vaultysclaw_intent_queue_seconds', help: 'From dispatch until the agent reports it running, by capability', labelNames: ['capability'], buckets: SECONDS, registers });
  const approvals = new Counter({ name: 'vaultysclaw_approvals_total', help: 'Tool approvals that ended, by how', labelNames: ['state'], registers });
  const decision = new Histogram({
    name: 'vaultysclaw_approval_decision_seconds',
    help: 'From request to decision, by decision',
    labelNames: ['state'],
    buckets: [1, 5, 15, 30, 60, 120, 300, 900, 1800, 3600],
    registers,
  });
  const storage = new Histogram({
    name: 'vaultysclaw_storage_seconds',
    help: 'Database writes (a write statement, a whole transaction), commits included, by kind',
    labelNames: ['op'],
    buckets: [0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
    registers,
  });
  // Children made once: a statement's observation then costs no label lookup.
  const byOp = Object.fromEntries((['run', 'transaction'] as const).map((op) => [op, storage.labels(op)])) as Record<StorageOp, ReturnType<typeof storage.labels>>;

  const failed = (err: unknown) => {
    errors.inc();
    // Not an audit line: this runs inside an append, and a line written from here could fail the same way again.
    process.stderr.write(`broker: metrics: ${(err as Error)?.message ?? String(err)}\n`);
  };

  // The line that ends an intent is written just before its view is emitted (broker/intents/intent-router.ts):
  // counted when both agree, so a late result (an intent.late-result line, a second view) is never counted twice.
  let ending: { intentId: string; state: string } | null = null;
  const onAppend = guarded(failed, (entry: AppendedEntry) => {
    fromAudit.count(entry);
    const final = FINAL_LINES[String(entry.fields.event)];
    ending = final && typeof entry.fields.intentId === 'string' ? { intentId: entry.fields.intentId, state: final(entry.fields) } : ending;
  });
  const onIntent = guarded(failed, (view: IntentView) => {
    const capability = capabilityLabel(view.capability);
    if (view.state === 'running') queued.observe({ capability }, (view.updatedAt - view.createdAt) / 1000);
    if (ending?.intentId !== view.id) return;
    const state = intentStateLabel(ending.state);
    ending = null;
    intents.inc({ capability, state });
    if (state !== 'refused') roundTrip.observe({ capability }, Math.max(0, view.updatedAt - view.createdAt) / 1000);
  });
  const onApproval = guarded(failed, (view: ApprovalView) => {
    if (view.state === 'pending') return;
    const state = approvalStateLabel(view.state);
    approvals.inc({ state });
    if (state !== 'expired' && view.decidedAt !== null) decision.observe({ state }, Math.max(0, view.decidedAt - view.requestedAt) / 1000);
  });

  const unsubscribeAudit = auditDestinationOf(log)?.onAppend(onAppend) ?? (() => false);
  broker.events.on('intentChanged', onIntent);
  broker.events.on('approvalChanged', onApproval);
  const unsubscribeStorage = broker.storage.onTiming(guarded(failed, (op: StorageOp, seconds: number) => byOp[op].observe(seconds)));
  return {
    registry,
    stop() {
      unsubscribeAudit();
      unsubscribeStorage();
      broker.events.off('intentChanged', onIntent);
      broker.events.off('approvalChanged', onApproval);
      registry.clear();
    },
  };
}
