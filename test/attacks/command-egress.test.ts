// Egress through the proxy (issue 14): an agent whose certified policy names allowedDomains ['localhost'], on a
// host started --egress-allow-loopback (so a loopback server can stand for an allowed mirror). From an approved
// run_command and from an llm_task driven by the scripted model: the allowed server answers through the
// command's proxy (absolute-form http:// and CONNECT) and to http_fetch; a name the policy does not list
// (127.0.0.1, example.com) and the broker's own hub port — localhost is allowed, loopback is allowed, the broker
// is never reachable — are refused with destination-refused; going around the proxy (straight to the allowed
// server, DNS to a loopback resolver, TCP and UDP elsewhere) finds no route. Real broker and agent processes
// from dist/, real bubblewrap; allowedDomains reach the certificate through the broker's policy input.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { HttpFetchOutput, RunCommandOutput } from '../../agent/tools';
import type { IntentView } from '../../core/rpc/views';
import { assertNoEscape, CountingHttpServer, CountingResolver, networkProbes, type ProbeResults } from './support/egress-fixtures';
import { approveAgent, assertSucceeded, call, commandOutput, finalIntent, ownerOf, runAs, type Member } from './support/team';
import type { AgentProcess, BrokerProcess } from '../support/processes';
import { answers, callsTools, ScriptedModel, toolResults } from '../support/scripted-model';
import { exitIfHeldOpen, Started } from '../support/started';

exitIfHeldOpen();

describe('a command whose policy allows localhost reaches it through its proxy, and nothing else', () => {
  const started = new Started();
  let broker: BrokerProcess;
  let model: ScriptedModel;
  let owner: Member;
  let agent: AgentProcess;
  let site: CountingHttpServer;
  let resolver: CountingResolver;
  let hubPort: number;

  const run = (command: string, args: string[]) => commandOutput(owner, agent.did, command, args);
  const fetch = (params: Record<string, unknown>) => runAs(owner, agent.did, 'http_fetch', { method: 'GET', timeoutMs: 10_000, ...params });
  const runTask = async (instruction: string): Promise<IntentView> => {
    const sent = await call(owner, 'intentsDispatch', { agent: agent.did, capability: 'llm_task', params: { instruction } });
    assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
    return finalIntent(owner, sent.id, 60_000);
  };
  /** Refused by the agent, or by the broker's pre-check (the same rule, domainAllowed): the reason is the same. */
  const assertFetchRefused = (view: IntentView, why: RegExp) => {
    assert.equal(view.state, 'rejected', `${view.state}: ${view.message}`);
    assert.equal(view.reason, 'destination-refused', view.message ?? undefined);
    assert.match(view.message ?? '', why);
  };

  before(async () => {
    model = await ScriptedModel.start();
    resolver = await CountingResolver.start();
    site = await CountingHttpServer.start('site', (req, res) => {
      if (req.url === '/redirect') return void res.writeHead(302, { location: 'http://example.com/elsewhere' }).end();
      res.writeHead(200, { 'content-type': 'text/plain' }).end(req.method === 'HEAD' ? undefined : `hello from site: ${req.method} ${req.url} ${req.body}`);
    });
    broker = await started.broker();
    hubPort = Number(new URL(broker.url).port);
    owner = ownerOf(broker);
    agent = await started.agent({
      brokerUrl: broker.url,
      brokerDid: broker.did,
      request: 'llm_task,run_command,http_fetch',
      args: ['--model-url', model.url, '--model', 'scripted-model', '--egress-allow-loopback'],
    });
    await approveAgent(owner, agent, { capabilities: ['llm_task', 'run_command', 'http_fetch'], maxTokensPerDay: 1_000_000, maxRequestsPerHour: 1000, allowedDomains: ['localhost'] });
    assert.deepEqual((await call(owner, 'agentsGet', { did: agent.did })).policy?.allowedDomains, ['localhost'], 'the certificate carries the allowed domains');
  });

  after(async () => {
    await started.cleanup();
    await model?.close();
    await site?.close();
    await resolver?.close();
  });

  test("from an approved run_command: the allowed server answers through the proxy; other names and the broker's hub port are refused; nothing goes around the proxy", async () => {
    const through = await run('curl', ['-sS', `http://localhost:${site.port}/through`]);
    assert.equal(through.stdout, 'hello from site: GET /through ', through.stderr);
    const tunnel = await run('curl', ['-sS', '--proxytunnel', '--data', 'x=1', `http://localhost:${site.port}/tunnel`]);
    assert.equal(tunnel.stdout, 'hello from site: POST /tunnel x=1', tunnel.stderr);

    const literal = await run('curl', ['-sS', '-i', `http://127.0.0.1:${site.port}/literal`]);
    assert.match(literal.stdout, /^HTTP\/1\.1 403 [\s\S]*X-Vaultysclaw-Refusal: destination-refused/i);
    const hub = await run('curl', ['-sS', '-i', `http://localhost:${hubPort}/`]);
    assert.match(hub.stdout, /^HTTP\/1\.1 403 [\s\S]*is the broker, which no command or fetch may reach/);
    const hubTunnel = await run('curl', ['-sS', '--proxytunnel', `http://localhost:${hubPort}/`]);
    assert.match(hubTunnel.stderr, /CONNECT tunnel failed, response 403/);
    await agent.log.waitFor('egress.refused', (l) => l.port === hubPort && String(l.why).includes('is the broker'));
    const elsewhere = await run('curl', ['-sS', 'https://example.com/']);
    assert.match(elsewhere.stderr, /CONNECT tunnel failed, response 403/);

    const direct = await run('curl', ['-sS', '--noproxy', '*', '--max-time', '5', `http://localhost:${site.port}/direct`]);
    assert.equal(direct.exitCode, 7, `no route without the proxy: ${direct.stderr}`);
    const datagrams = resolver.datagrams;
    const probes = await run('node', ['-e', networkProbes({ allowed: site.port, broker: hubPort, resolver: resolver.port })]);
    assertNoEscape(JSON.parse(probes.stdout) as ProbeResults);
    assert.equal(resolver.datagrams, datagrams);
    assert.deepEqual(site.requests.map((r) => r.url).filter((u) => ['/through', '/tunnel', '/literal', '/direct'].includes(u)), ['/through', '/tunnel'], 'only the proxied requests reached the server');
  });

  test('from an llm_task: the model\'s commands and fetches reach the allowed server, never the broker or another name', async () => {
    const from = model.requests.length;
    model.play([
      callsTools([
        { name: 'run_command', args: { command: 'curl', args: ['-sS', `http://localhost:${site.port}/task-command`], cwd: '.', timeoutMs: 20_000 } },
        { name: 'run_command', args: { command: 'curl', args: ['-sS', '-i', `http://localhost:${hubPort}/`], cwd: '.', timeoutMs: 20_000 } },
        { name: 'http_fetch', args: { method: 'GET', url: `http://localhost:${site.port}/task-fetch`, timeoutMs: 10_000 } },
        { name: 'http_fetch', args: { method: 'GET', url: `http://localhost:${hubPort}/rpc`, timeoutMs: 10_000 } },
        { name: 'http_fetch', args: { method: 'GET', url: `http://127.0.0.1:${site.port}/task-literal`, timeoutMs: 10_000 } },
      ], 80),
      answers('Done.', 10),
    ]);
    const done = await runTask('Use the network');
    assert.equal(done.state, 'succeeded', `${done.reason}: ${done.message}`);
    const [command, commandToBroker, fetched, fetchBroker, fetchLiteral] = toolResults(model.requests[from + 1]!);
    assert.equal((command!.output as RunCommandOutput).stdout, 'hello from site: GET /task-command ');
    assert.match((commandToBroker!.output as RunCommandOutput).stdout, /^HTTP\/1\.1 403 [\s\S]*is the broker/);
    assert.deepEqual([fetched!.status, (fetched!.output as HttpFetchOutput).status, (fetched!.output as HttpFetchOutput).body], ['done', 200, 'hello from site: GET /task-fetch ']);
    assert.deepEqual([fetchBroker!.status, fetchBroker!.reason], ['refused', 'destination-refused']);
    assert.deepEqual([fetchLiteral!.status, fetchLiteral!.reason], ['refused', 'destination-refused']);
    assert.equal(site.requests.some((r) => r.url === '/task-literal'), false);
  });

  test('http_fetch intents: GET, POST and HEAD to the allowed host; a redirect is returned, not followed; the broker and other names are refused', async () => {
    const get = await fetch({ url: `http://localhost:${site.port}/get` });
    assertSucceeded(get);
    assert.equal((get.output as HttpFetchOutput).body, 'hello from site: GET /get ');
    const post = await fetch({ method: 'POST', url: `http://localhost:${site.port}/post`, body: 'payload' });
    assert.equal((post.output as HttpFetchOutput).body, 'hello from site: POST /post payload');
    const head = await fetch({ method: 'HEAD', url: `http://localhost:${site.port}/head` });
    assert.deepEqual([(head.output as HttpFetchOutput).status, (head.output as HttpFetchOutput).body], [200, '']);
    const redirect = await fetch({ url: `http://localhost:${site.port}/redirect` });
    assert.deepEqual([(redirect.output as HttpFetchOutput).status, (redirect.output as HttpFetchOutput).headers.location], [302, 'http://example.com/elsewhere']);
    assertFetchRefused(await fetch({ url: `http://localhost:${hubPort}/rpc` }), /is the broker/);
    assertFetchRefused(await fetch({ url: `http://127.0.0.1:${site.port}/` }), /127\.0\.0\.1 is not in the/);
    assertFetchRefused(await fetch({ url: 'https://example.com/' }), /example\.com is not in the/);
  });
});
