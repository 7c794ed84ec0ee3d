// Network off by default (issue 14): an agent whose certified policy names no allowedDomains gives its commands
// no network at all — from an approved run_command and from the commands a scripted model runs in an llm_task,
// the broker's hub port, a loopback HTTP server, a loopback DNS resolver, raw TCP and UDP elsewhere all fail,
// even on a host started --egress-allow-loopback — and http_fetch reaches nothing, the broker included. Real
// broker and agent processes from dist/, real bubblewrap, servers on 127.0.0.1 that count what reaches them.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RunCommandOutput } from '../../agent/tools';
import type { IntentView } from '../../core/rpc/views';
import { assertNoEscape, CountingHttpServer, CountingResolver, networkProbes, type ProbeResults } from './support/egress-fixtures';
import { approveAgent, call, commandOutput, finalIntent, ownerOf, runAs, type Member } from './support/team';
import type { AgentProcess, BrokerProcess } from '../support/processes';
import { answers, callsTools, ScriptedModel, toolResults } from '../support/scripted-model';
import { exitIfHeldOpen, Started } from '../support/started';

exitIfHeldOpen();

describe('a command whose policy allows no domains has no network at all', () => {
  const started = new Started();
  let broker: BrokerProcess;
  let model: ScriptedModel;
  let owner: Member;
  let agent: AgentProcess;
  let site: CountingHttpServer;
  let resolver: CountingResolver;
  let hubPort: number;

  const probes = () => networkProbes({ allowed: site.port, broker: hubPort, resolver: resolver.port });
  const reached = () => ({ site: site.connections, resolver: resolver.datagrams });
  const run = (command: string, args: string[]) => commandOutput(owner, agent.did, command, args);
  const runTask = async (instruction: string): Promise<IntentView> => {
    const sent = await call(owner, 'intentsDispatch', { agent: agent.did, capability: 'llm_task', params: { instruction } });
    assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
    return finalIntent(owner, sent.id, 60_000);
  };

  before(async () => {
    model = await ScriptedModel.start();
    site = await CountingHttpServer.start('site');
    resolver = await CountingResolver.start();
    broker = await started.broker();
    hubPort = Number(new URL(broker.url).port);
    owner = ownerOf(broker);
    agent = await started.agent({
      brokerUrl: broker.url,
      brokerDid: broker.did,
      request: 'llm_task,run_command,http_fetch',
      // The loopback flag changes nothing without allowed domains: there is no proxy to let anything through.
      args: ['--model-url', model.url, '--model', 'scripted-model', '--egress-allow-loopback'],
    });
    await approveAgent(owner, agent, { capabilities: ['llm_task', 'run_command', 'http_fetch'], maxTokensPerDay: 1_000_000, maxRequestsPerHour: 1000 });
  });

  after(async () => {
    await started.cleanup();
    await model?.close();
    await site?.close();
    await resolver?.close();
  });

  test("from an approved run_command: the broker's hub port, a loopback HTTP server, a loopback resolver, TCP and UDP elsewhere all fail", async () => {
    const before = reached();
    const out = await run('node', ['-e', probes()]);
    assert.equal(out.exitCode, 0, out.stderr);
    assertNoEscape(JSON.parse(out.stdout) as ProbeResults);
    const curl = await run('curl', ['-sS', '--max-time', '5', `http://localhost:${site.port}/`]);
    assert.equal(curl.exitCode, 7, `curl found no route: ${curl.stderr}`);
    const env = await run('env', []);
    assert.doesNotMatch(env.stdout, /_PROXY=/i, 'no proxy is offered');
    assert.deepEqual(reached(), before, 'nothing on the host was reached');
    assert.equal((await run('ls', ['-a'])).exitCode, 0, 'the agent keeps serving');
  });

  test("from an llm_task: the commands the model runs have no network either", async () => {
    const before = reached();
    const from = model.requests.length;
    model.play([
      callsTools([{ name: 'run_command', args: { command: 'node', args: ['-e', probes()], cwd: '.', timeoutMs: 30_000 } }], 50),
      answers('Tried.', 10),
    ]);
    const done = await runTask('Reach out to the network');
    assert.equal(done.state, 'succeeded', `${done.reason}: ${done.message}`);
    const [result] = toolResults(model.requests[from + 1]!);
    assert.equal(result?.status, 'done', JSON.stringify(result));
    const output = result!.output as RunCommandOutput;
    assert.equal(output.exitCode, 0, output.stderr);
    assertNoEscape(JSON.parse(output.stdout) as ProbeResults);
    assert.deepEqual(reached(), before);
  });

  test('http_fetch reaches nothing: refused destination-refused, from an intent and from an llm_task, the broker included', async () => {
    const before = reached();
    for (const url of [`http://localhost:${site.port}/`, `http://localhost:${hubPort}/rpc`, 'https://example.com/']) {
      const view = await runAs(owner, agent.did, 'http_fetch', { method: 'GET', url, timeoutMs: 5000 });
      assert.equal(view.state, 'rejected', `${url}: ${view.state} ${view.message}`);
      assert.equal(view.reason, 'destination-refused', `${url}: ${view.message}`);
    }
    const from = model.requests.length;
    model.play([
      callsTools([
        { name: 'http_fetch', args: { method: 'GET', url: `http://localhost:${site.port}/`, timeoutMs: 5000 } },
        { name: 'http_fetch', args: { method: 'POST', url: `http://localhost:${hubPort}/rpc`, body: '{}', timeoutMs: 5000 } },
      ], 40),
      answers('Nothing reachable.', 10),
    ]);
    const done = await runTask('Fetch something');
    assert.equal(done.state, 'succeeded', `${done.reason}: ${done.message}`);
    assert.deepEqual(toolResults(model.requests[from + 1]!).map((r) => [r.status, r.reason]), [
      ['refused', 'destination-refused'],
      ['refused', 'destination-refused'],
    ]);
    assert.deepEqual(reached(), before);
  });
});
