import type { Command } from 'commander';
import { Notifications } from '../../core/rpc/methods';
import { FINAL_INTENT_STATES, type IntentView } from '../../core/rpc/views';
import { CAPABILITIES, type Capability } from '../../core/wire/policy';
import { defaultDataDir } from '../config';
import { LocalBrokerClient } from './local-client';

const print = (value: unknown): void => {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
};

function capabilities(text: string): Capability[] {
  const list = text.split(',').map((c) => c.trim()).filter(Boolean);
  const unknown = list.filter((c) => !(CAPABILITIES as readonly string[]).includes(c));
  if (unknown.length) throw new Error(`unknown capabilities: ${unknown.join(', ')} (known: ${CAPABILITIES.join(', ')})`);
  return list as Capability[];
}

async function withClient(dataDir: string, run: (client: LocalBrokerClient) => Promise<void>): Promise<void> {
  const client = await LocalBrokerClient.connect(dataDir);
  // If the broker goes away mid-request, the process must not end quietly with success.
  process.exitCode = 1;
  try {
    await run(client);
    if (process.exitCode === 1) process.exitCode = 0;
  } finally {
    client.close();
  }
}

/** Operator commands that talk to a running broker through its local socket. */
export function addOperatorCommands(program: Command): void {
  program
    .command('agents')
    .description('list agents and their registration state')
    .option('--data-dir <dir>', 'data directory of the running broker', defaultDataDir())
    .action((o: { dataDir: string }) => withClient(o.dataDir, async (c) => print(await c.call('agentsList', {}))));

  program
    .command('approve <did>')
    .description('approve a pending agent with capabilities and limits')
    .option('--data-dir <dir>', 'data directory of the running broker', defaultDataDir())
    .requiredOption('--capabilities <list>', `comma-separated (${CAPABILITIES.join(',')})`)
    .option('--approval-required <list>', 'capabilities that need a reviewer', '')
    .option('--max-requests-per-hour <n>', 'hourly request limit', '60')
    .option('--max-tokens-per-day <n>', 'daily token budget', '100000')
    .option('--valid-days <n>', 'policy lifetime in days', '30')
    .option('--widen', 'allow granting more than the agent asked for')
    .action((did: string, o: Record<string, string | boolean | undefined> & { dataDir: string }) =>
      withClient(o.dataDir, async (c) =>
        print(
          await c.call('registrationsApprove', {
            did,
            widen: Boolean(o.widen),
            policy: {
              capabilities: capabilities(String(o.capabilities)),
              approvalRequired: capabilities(String(o.approvalRequired ?? '')),
              maxRequestsPerHour: Number(o.maxRequestsPerHour),
              maxTokensPerDay: Number(o.maxTokensPerDay),
              validForMs: Number(o.validDays) * 24 * 60 * 60_000,
            },
          }),
        ),
      ),
    );

  program
    .command('reject <did>')
    .description('reject a pending agent (sticky: it is refused from then on)')
    .option('--data-dir <dir>', 'data directory of the running broker', defaultDataDir())
    .requiredOption('--reason <text>', 'why, for the audit log')
    .action((did: string, o: { dataDir: string; reason: string }) =>
      withClient(o.dataDir, async (c) => print(await c.call('registrationsReject', { did, reason: o.reason }))),
    );

  program
    .command('revoke <did>')
    .description('revoke an agent at once (sticky)')
    .option('--data-dir <dir>', 'data directory of the running broker', defaultDataDir())
    .requiredOption('--reason <text>', 'why, for the audit log')
    .action((did: string, o: { dataDir: string; reason: string }) =>
      withClient(o.dataDir, async (c) => print(await c.call('agentsRevoke', { did, reason: o.reason }))),
    );

  program
    .command('dispatch <agent> <capability> [params]')
    .description('sign and send an intent, wait for the agent\'s signed result and print it (params: JSON object)')
    .option('--data-dir <dir>', 'data directory of the running broker', defaultDataDir())
    .option('--timeout <seconds>', 'how long to wait for the result', '60')
    .action((agent: string, capability: string, params: string | undefined, o: { dataDir: string; timeout: string }) =>
      withClient(o.dataDir, async (c) => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(params ?? '{}');
        } catch {
          throw new Error('params must be a JSON object, e.g. \'{"path":"README.md"}\'');
        }
        const final = new Map<string, IntentView>();
        let waiter: ((v: IntentView) => void) | undefined;
        c.connection.onNotification(Notifications.intentChanged.method, (p: { intent: IntentView }) => {
          if (!FINAL_INTENT_STATES.includes(p.intent.state)) return;
          final.set(p.intent.id, p.intent);
          waiter?.(p.intent);
        });
        c.connection.onNotification(Notifications.intentProgress.method, (p: { text: string; stream: string }) => {
          if (p.stream !== 'status') process.stderr.write(p.text);
        });
        const sent = await c.call('intentsDispatch', { agent, capability: capabilities(capability)[0]!, params: parsed as Record<string, unknown> });
        const result = FINAL_INTENT_STATES.includes(sent.state)
          ? sent
          : (final.get(sent.id) ??
            (await new Promise<IntentView>((resolve, reject) => {
              const timer = setTimeout(() => reject(new Error(`no result within ${o.timeout} s; see "intents get ${sent.id}"`)), Number(o.timeout) * 1000);
              waiter = (v) => {
                if (v.id !== sent.id) return;
                clearTimeout(timer);
                resolve(v);
              };
            })));
        print(result);
        if (result.state !== 'succeeded') process.exitCode = 2;
      }),
    );

  program
    .command('intents')
    .description('list recent intents')
    .option('--data-dir <dir>', 'data directory of the running broker', defaultDataDir())
    .option('--agent <did>', 'only this agent')
    .option('--limit <n>', 'how many', '20')
    .action((o: { dataDir: string; agent?: string; limit: string }) =>
      withClient(o.dataDir, async (c) => print(await c.call('intentsList', { agent: o.agent, limit: Number(o.limit) }))),
    );
}
