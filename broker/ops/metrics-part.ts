import { Counter } from 'prom-client';
import { BUDGETS } from '../../core/budgets';
import { audit } from '../audit/audit-log';
import { startBrokerMetrics } from './metrics/broker-metrics';
import type { OpsContext, OpsPart } from './operations';
import type { OpsOptions } from './ops-options';
import { startOpsServer, type OpsServerOptions } from './ops-server';
import { readinessOf } from './readiness';

/**
 * `--metrics host:port`: Prometheus /metrics and /healthz, /readyz on a listener of their own. The address it
 * took (port 0 picks one) is said on stderr and in the audit log, where a test or an operator's script reads it.
 */
export async function startMetricsAndHealth(
  context: OpsContext,
  metrics: NonNullable<OpsOptions['metrics']>,
  { now = Date.now, ...seams }: Pick<OpsServerOptions, 'requestMs' | 'connections'> & { now?: () => number } = {},
): Promise<OpsPart> {
  const collected = startBrokerMetrics(context.broker, context.log);
  const renders = new Counter({ name: 'vaultysclaw_metrics_renders_total', help: 'Times the /metrics page was rendered (past BUDGETS.opsMetricsRendersPerSecond the last page is served again)', registers: [collected.registry] });
  const page = renderedWithin(async () => {
    renders.inc();
    return { contentType: collected.registry.contentType, body: await collected.registry.metrics() };
  }, now);
  const ready = readinessOf(context.broker, context.log, context.dataDir);
  let server;
  try {
    server = await startOpsServer({ ...metrics, ...seams }, { ready, metrics: page }, context.log);
  } catch (err) {
    collected.stop();
    throw err;
  }
  process.stderr.write(`broker: metrics and health on ${server.url} (/metrics, /healthz, /readyz)\n`);
  audit(context.log).info('ops.listening', { url: server.url }, 'metrics and health listener started');
  const listening = server;
  return {
    async stop() {
      await listening.stop();
      collected.stop();
    },
  };
}

/**
 * The /metrics page rendered at most BUDGETS.opsMetricsRendersPerSecond times a second: past that, the last page
 * is served again. A render costs the broker a few ms of CPU, and a web page can make the operator's browser ask
 * 127.0.0.1 for it in a loop (it cannot read the answers, but each one would be rendered); Prometheus asks every 15 s.
 */
function renderedWithin<P>(render: () => Promise<P>, now: () => number): () => Promise<P> {
  let windowStart = -Infinity;
  let rendered = 0;
  let last: Promise<P> | undefined;
  return () => {
    const at = now();
    if (at - windowStart >= 1000) {
      windowStart = at;
      rendered = 0;
    }
    if (last && rendered >= BUDGETS.opsMetricsRendersPerSecond.limit) return last;
    rendered += 1;
    const page = render();
    // A failed render is not served again: the next request renders afresh.
    last = page;
    page.catch(() => {
      if (last === page) last = undefined;
    });
    return page;
  };
}
