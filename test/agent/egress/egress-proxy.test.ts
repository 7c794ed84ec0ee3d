// The egress proxy, the in-sandbox bridge and egressLaunchPart, run for real: a command in a bubblewrap sandbox
// whose network namespace holds nothing but its own loopback reaches what allowedDomains names through the
// proxy, and nothing else — not a name outside the list, not the broker, not loopback services unless the host
// allows them, not any address directly, not a resolver. The sandbox is the tests' own plain bwrap; the
// agent's run_command sandbox is covered by test/attacks/command-network.test.ts.
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { addressProblem } from '../../../agent/egress/destination-check';
import { BRIDGE_PORT, egressLaunchPart } from '../../../agent/egress/egress-launch-part';
import { EgressProxy } from '../../../agent/egress/egress-proxy';
import { BUDGETS } from '../../../core/budgets';
import { MAX_COMMAND_LIMITS } from '../../../core/policy/command-limits';
import { assertNoEscape, CountingHttpServer, CountingListener, CountingResolver, networkProbes, type ProbeResults, nodeScript, runSandboxed } from '../../attacks/support/egress-fixtures';
import { testHostRules } from '../tools/fixtures';

describe('egress: proxy and bridge in a sandbox with no network of its own', () => {
  let allowed: CountingHttpServer;
  let hub: CountingListener;
  let resolver: CountingResolver;
  const status: string[] = [];

  const ctx = (allowedDomains: string[], allowLoopback = true) => ({
    policy: { allowedDomains, commandLimits: MAX_COMMAND_LIMITS },
    host: testHostRules({
      confinement: { mode: 'sandboxed', detail: 'test sandbox', ceilings: MAX_COMMAND_LIMITS },
      brokers: [{ host: '127.0.0.1', port: hub.port }],
      allowLoopback,
    }),
    onProgress: (_stream: string, text: string) => void status.push(text),
  });

  /** A command run with the egress part of `allowedDomains`, which is closed whatever happens. */
  async function withEgress<T>(allowedDomains: string[], allowLoopback: boolean, use: (part: NonNullable<ReturnType<typeof egressLaunchPart>>) => Promise<T>): Promise<T> {
    const part = egressLaunchPart(ctx(allowedDomains, allowLoopback));
    assert.ok(part, 'a sandboxed command with allowed domains gets an egress part');
    try {
      return await use(part);
    } finally {
      assert.equal(await part.finish!(), null);
      const socketDir = part.bwrapArgs![1]!;
      assert.equal(existsSync(socketDir), false, 'finish() removes the proxy and its socket directory');
    }
  }

  before(async () => {
    allowed = await CountingHttpServer.start('allowed');
    hub = await CountingListener.start();
    resolver = await CountingResolver.start();
  });

  after(async () => {
    await allowed?.close();
    await hub?.close();
    await resolver?.close();
  });

  test('through the proxy, a command reaches an allowed host by absolute-form http:// and by CONNECT', async () => {
    await withEgress(['localhost'], true, async (part) => {
      const plain = await runSandboxed(part, 'curl', ['-sS', `http://localhost:${allowed.port}/plain?x=1`]);
      assert.equal(plain.code, 0, plain.stderr);
      assert.equal(plain.stdout, 'hello from allowed: GET /plain?x=1');
      const tunnel = await runSandboxed(part, 'curl', ['-sS', '--proxytunnel', '-X', 'POST', '--data', 'payload', `http://localhost:${allowed.port}/tunnel`]);
      assert.equal(tunnel.code, 0, tunnel.stderr);
      assert.equal(tunnel.stdout, 'hello from allowed: POST /tunnel');
    });
    assert.deepEqual(allowed.requests.slice(-2).map((r) => [r.method, r.url, r.host, r.body]), [
      ['GET', '/plain?x=1', `localhost:${allowed.port}`, ''],
      ['POST', '/tunnel', `localhost:${allowed.port}`, 'payload'],
    ]);
  });

  test('a host allowedDomains does not name is refused by the proxy (403 destination-refused), reported, and never contacted', async () => {
    const before = allowed.connections;
    status.length = 0;
    await withEgress(['localhost'], true, async (part) => {
      const literal = await runSandboxed(part, 'curl', ['-sS', '-i', `http://127.0.0.1:${allowed.port}/`]);
      assert.match(literal.stdout, /^HTTP\/1\.1 403 /);
      assert.match(literal.stdout, /X-Vaultysclaw-Refusal: destination-refused/i);
      assert.match(literal.stdout, /127\.0\.0\.1 is not in the policy's allowedDomains/);
      const other = await runSandboxed(part, 'curl', ['-sS', `https://example.com/`]);
      assert.notEqual(other.code, 0);
      assert.match(other.stderr, /CONNECT tunnel failed, response 403/);
    });
    assert.equal(allowed.connections, before, 'the refused destination saw no connection');
    assert.ok(status.some((s) => s.includes(`egress refused 127.0.0.1:${allowed.port}: 127.0.0.1 is not in the policy's allowedDomains`)), status.join(''));
    assert.ok(status.some((s) => s.includes('egress refused example.com:443')), status.join(''));
  });

  test("the broker's host:port is refused, with localhost allowed and loopback allowed", async () => {
    await withEgress(['localhost'], true, async (part) => {
      const plain = await runSandboxed(part, 'curl', ['-sS', '-i', `http://localhost:${hub.port}/`]);
      assert.match(plain.stdout, /^HTTP\/1\.1 403 /);
      assert.match(plain.stdout, /is the broker, which no command or fetch may reach/);
      const tunnel = await runSandboxed(part, 'curl', ['-sS', '--proxytunnel', `http://localhost:${hub.port}/`]);
      assert.match(tunnel.stderr, /CONNECT tunnel failed, response 403/);
    });
    assert.equal(hub.connections, 0, 'the broker was never contacted');
  });

  test('without --egress-allow-loopback, an allowed name that leads to loopback is refused', async () => {
    const before = allowed.connections;
    await withEgress(['localhost'], false, async (part) => {
      const r = await runSandboxed(part, 'curl', ['-sS', '-i', `http://localhost:${allowed.port}/`]);
      assert.match(r.stdout, /^HTTP\/1\.1 403 /);
      assert.match(r.stdout, /localhost resolves to a loopback address of the agent host/);
    });
    assert.equal(allowed.connections, before);
  });

  test('no way around the proxy: direct TCP to the allowed server or the broker, TCP and UDP elsewhere, DNS to a loopback resolver', async () => {
    const before = { allowed: allowed.connections, hub: hub.connections, dns: resolver.datagrams };
    const results = await withEgress(['localhost'], true, async (part) => {
      const r = await nodeScript(part, networkProbes({ allowed: allowed.port, broker: hub.port, resolver: resolver.port }));
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as ProbeResults;
    });
    assertNoEscape(results);
    assert.deepEqual({ allowed: allowed.connections, hub: hub.connections, dns: resolver.datagrams }, before, 'nothing on the host was reached');
  });

  test('a command refused BUDGETS.egressRefusalReports times gets each reported; the one past it is only counted, in one line at its end', async () => {
    for (const extra of [0, 1]) {
      status.length = 0;
      const attempts = BUDGETS.egressRefusalReports.limit + extra;
      await withEgress(['localhost'], true, async (part) => {
        // Sequential proxy requests for a name the policy does not allow: each is answered 403 by the proxy.
        const script = `const http = require('node:http'); (async () => { for (let i = 0; i < ${attempts}; i++) await new Promise((ok) =>
          http.get({ host: '127.0.0.1', port: ${BRIDGE_PORT}, path: 'http://denied.example/' + i }, (r) => { r.resume(); r.on('end', ok); }).on('error', ok)); })();`;
        const r = await nodeScript(part, script);
        assert.equal(r.code, 0, r.stderr);
      });
      const told = status.filter((s) => s.startsWith('egress refused denied.example'));
      assert.equal(told.length, BUDGETS.egressRefusalReports.limit, status.join(''));
      const summary = status.filter((s) => s.includes('not listed one by one'));
      assert.deepEqual(summary, extra ? ['egress refused 1 more connection, not listed one by one\n'] : []);
    }
  });

  test('with no allowed domains there is no egress part and no network at all', async () => {
    assert.equal(egressLaunchPart(ctx([])), null);
    const unconfined = ctx(['localhost']);
    unconfined.host.confinement = { ...unconfined.host.confinement, mode: 'unconfined' };
    assert.equal(egressLaunchPart(unconfined), null, 'an unconfined command shares the host network: a proxy would filter nothing');
    const before = allowed.connections;
    const r = await runSandboxed(null, 'curl', ['-sS', '--max-time', '5', `http://localhost:${allowed.port}/`]);
    assert.equal(r.code, 7, `curl could not connect: ${r.stderr}`);
    assert.equal(allowed.connections, before);
  });

  test('the bridge ends as the command ends and passes its stdio through', async () => {
    await withEgress(['localhost'], true, async (part) => {
      const r = await runSandboxed(part, 'sh', ['-c', 'echo out; echo err >&2; exit 7']);
      assert.deepEqual([r.code, r.stdout, r.stderr], [7, 'out\n', 'err\n']);
      const missing = await runSandboxed(part, '/nonexistent/tool', []);
      assert.equal(missing.code, 127);
    });
  });
});

describe('egress proxy on its socket', () => {
  let allowed: CountingHttpServer;
  before(async () => {
    allowed = await CountingHttpServer.start('allowed');
  });
  after(async () => {
    await allowed?.close();
  });
  const rules = { policy: { allowedDomains: ['localhost'] }, host: { brokers: [{ host: '127.0.0.1', port: 9 }], allowLoopback: true } };

  /** Sends `request` on a fresh connection to the proxy and resolves with the first line of its answer; the socket stays open. */
  function ask(proxy: EgressProxy, request: string): Promise<{ line: string; socket: Socket }> {
    return new Promise((resolve, reject) => {
      const socket = connect(proxy.socketPath);
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (c: string) => {
        text += c;
        if (text.includes('\r\n')) resolve({ line: text.slice(0, text.indexOf('\r\n')), socket });
      });
      socket.on('error', reject);
      socket.on('close', () => resolve({ line: text.split('\r\n')[0] ?? '', socket }));
      socket.write(request);
    });
  }
  const tunnel = (proxy: EgressProxy) => ask(proxy, `CONNECT localhost:${allowed.port} HTTP/1.1\r\nHost: localhost:${allowed.port}\r\n\r\n`);

  test('every broker node the agent was given is refused, not only its first URL: a command cannot reach another node of the cluster', async () => {
    const refusals: string[] = [];
    const cluster = { ...rules, host: { ...rules.host, brokers: [...rules.host.brokers, { host: 'localhost', port: allowed.port }] } };
    const proxy = EgressProxy.open(cluster, (r) => refusals.push(r.why));
    try {
      const before = allowed.connections;
      const { line, socket } = await tunnel(proxy);
      socket.destroy();
      assert.match(line, /^HTTP\/1\.1 403 /);
      assert.ok(refusals.some((why) => why.includes('is the broker')), refusals.join('; '));
      assert.equal(allowed.connections, before, 'nothing reached the second node');
    } finally {
      await proxy.close();
    }
  });

  test('holds BUDGETS.egressConnectionsPerCommand connections at once; one more is refused with 429; a freed slot is used again', async () => {
    const refusals: string[] = [];
    const proxy = EgressProxy.open(rules, (r) => refusals.push(r.why));
    const open: Socket[] = [];
    try {
      for (let i = 0; i < BUDGETS.egressConnectionsPerCommand.limit; i++) {
        const { line, socket } = await tunnel(proxy);
        open.push(socket);
        assert.equal(line, 'HTTP/1.1 200 Connection Established', `tunnel ${i + 1}`);
      }
      await new Promise((r) => setTimeout(r, 100));
      const upstreams = allowed.connections;
      const over = await tunnel(proxy);
      open.push(over.socket);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(allowed.connections, upstreams, 'the connection turned away opened no tunnel');
      assert.equal(over.line, 'HTTP/1.1 429 Too Many Requests', `tunnel ${BUDGETS.egressConnectionsPerCommand.limit + 1}`);
      assert.deepEqual(refusals, [`more than ${BUDGETS.egressConnectionsPerCommand.limit} connections at once`]);
      open.shift()!.destroy();
      const again = await waitForLine(() => tunnel(proxy), 'HTTP/1.1 200 Connection Established');
      open.push(again);
    } finally {
      for (const s of open) s.destroy();
      await proxy.close();
    }
  });

  test('its socket lives in a private 0700 directory, removed with every connection when the command ends', async () => {
    const proxy = EgressProxy.open(rules, () => undefined);
    assert.equal(statSync(proxy.socketDir).mode & 0o777, 0o700);
    const { socket } = await tunnel(proxy);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await proxy.close();
    await closed;
    assert.equal(existsSync(proxy.socketDir), false);
  });

  test('bad requests get an answer and the proxy keeps serving', async () => {
    const proxy = EgressProxy.open(rules, () => undefined);
    try {
      assert.match((await ask(proxy, 'CONNECT localhost HTTP/1.1\r\n\r\n')).line, /^HTTP\/1\.1 400 /);
      assert.match((await ask(proxy, `GET https://localhost:${allowed.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`)).line, /^HTTP\/1\.1 400 /);
      assert.match((await ask(proxy, 'GET /relative HTTP/1.1\r\nHost: x\r\n\r\n')).line, /^HTTP\/1\.1 400 /);
      assert.equal((await ask(proxy, '\x00\x01garbage\r\n\r\n')).line.startsWith('HTTP/1.1 2'), false);
      assert.equal((await tunnel(proxy)).line, 'HTTP/1.1 200 Connection Established');
    } finally {
      await proxy.close();
    }
  });
});

/** The slot of a closed tunnel frees when the proxy sees the close: retried a few times, bounded. */
async function waitForLine(attempt: () => Promise<{ line: string; socket: Socket }>, expected: string): Promise<Socket> {
  let last = '';
  for (let i = 0; i < 50; i++) {
    const { line, socket } = await attempt();
    if (line === expected) return socket;
    last = line;
    socket.destroy();
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`never got ${expected}; last: ${last}`);
}

describe('egress: which addresses are never reached', () => {
  test('link-local (cloud metadata), unspecified, multicast and loopback in any form are refused; loopback passes only with the flag', () => {
    for (const [address, family] of [['169.254.169.254', 4], ['fe80::1', 6], ['0.0.0.0', 4], ['::', 6], ['224.0.0.251', 4], ['ff02::1', 6], ['255.255.255.255', 4], ['::ffff:169.254.169.254', 6]] as const) {
      assert.notEqual(addressProblem(address, family, true), null, address);
    }
    for (const [address, family] of [['127.0.0.1', 4], ['127.3.2.1', 4], ['::1', 6], ['::ffff:127.0.0.1', 6]] as const) {
      assert.match(addressProblem(address, family, false) ?? '', /loopback/, address);
      assert.equal(addressProblem(address, family, true), null, address);
    }
    for (const [address, family] of [['93.184.216.34', 4], ['2606:2800:220:1::1', 6], ['10.1.2.3', 4]] as const) assert.equal(addressProblem(address, family, false), null, address);
  });
});
