// End to end: `broker mcp` (issue 18) with the MCP SDK's own client over stdio, against real broker and agent
// processes. The MCP client is a user like any other: it proves the user's key, gets that user's grants only, and
// every gate applies; a refusal comes back as a tool error with its reason; a malformed call is an MCP error and the
// server serves the next; the client's cancel ends the intent cancelled at the broker; a broker that goes away
// ends the server with a message on stderr.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { BUDGETS } from '../../core/budgets';
import { writeKeyFile } from '../../core/identity';
import type { IntentDetail, IntentSummary } from '../../core/rpc/views';
import { auditLines, call, decisionParams, joinAs, ownerOf, type Member } from '../attacks/support/team';
import { startMcpSession, resultText, type McpSession } from '../support/mcp-client';
import { ROOT, tempDir, waitFor, type AgentProcess, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';

exitIfHeldOpen();
const run = promisify(execFile);
const started = new Started();
const sessions: McpSession[] = [];
const keys = new Map<string, string>();

let broker: BrokerProcess;
let agent: AgentProcess;
let owner: Member;
let alice: Member; // operator: read_file, list_files, run_command
let bob: Member; // operator: run_command only
let aliceMcp: McpSession;
let bobMcp: McpSession;

const FILE_TEXT = 'line one of the remote file\nline two\n';

async function mcpAs(member: Member, clientName: string): Promise<McpSession> {
  const dir = tempDir('mcp-key');
  started.dirs.push(dir);
  const key = join(dir, `${member.name}.key`);
  writeKeyFile(key, member.identity);
  keys.set(member.did, key);
  const session = await startMcpSession(['--url', broker.url, '--broker-did', broker.did, '--key', key], clientName);
  sessions.push(session);
  return session;
}

/** The intent id the result's last line names ("Intent <id>."). */
function intentIdOf(text: string): string {
  const id = /Intent ([0-9a-f-]{20,})\.\s*$/.exec(text)?.[1];
  assert.ok(id, `the result names its intent: ${text.slice(-300)}`);
  return id;
}

function dispatch(session: McpSession, args: Record<string, unknown>, options: { signal?: AbortSignal; onprogress?: (p: { message?: string }) => void } = {}) {
  return session.client.callTool({ name: 'vaultysclaw_dispatch', arguments: args }, undefined, { timeout: 120_000, ...options });
}

/** A command that runs until stopped; `marker` is in its arguments, to find its intent. */
const ticker = (marker: string) => ({ command: 'sh', args: ['-c', `while :; do sleep 0.2; done`, `ticker-${marker}`], cwd: '.', timeoutMs: 120_000 });

async function intentWithMarker(marker: string): Promise<IntentSummary> {
  return waitFor(
    `the intent of ticker ${marker} running`,
    async () => (await call(owner, 'intentsList', { agent: agent.did, limit: 50 })).items.find((i) => JSON.stringify(i.params).includes(marker) && i.state === 'running'),
    30_000,
  );
}

before(async () => {
  broker = await started.broker();
  owner = ownerOf(broker);
  [alice, bob] = await Promise.all([joinAs(broker, owner, 'operator', 'alice'), joinAs(broker, owner, 'operator', 'bob')]);
  agent = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, name: 'mcp-build-01', request: 'read_file,list_files,write_file,run_command' });
  await waitFor('the agent pending and online', async () => (await call(owner, 'registrationsList', {})).items.find((r) => r.did === agent.did && r.online));
  await call(owner, 'registrationsApprove', { did: agent.did, policy: { capabilities: ['read_file', 'list_files', 'write_file', 'run_command'], approvalRequired: ['list_files'] } });
  await agent.log.waitFor('auth.succeeded', (l) => l.status === 'approved');
  await call(owner, 'grantsCreate', { user: alice.did, agent: agent.did, capabilities: ['read_file', 'list_files', 'run_command'], validForMs: 60 * 60_000 });
  await call(owner, 'grantsCreate', { user: bob.did, agent: agent.did, capabilities: ['run_command'], validForMs: 60 * 60_000 });
  writeFileSync(join(agent.workspace, 'hello.txt'), FILE_TEXT);
  [aliceMcp, bobMcp] = await Promise.all([mcpAs(alice, 'Claude Code'), mcpAs(bob, 'bob-editor')]);
});

after(async () => {
  for (const s of sessions.splice(0)) await s.close();
  await started.cleanup();
});

describe('broker mcp', () => {
  test('lists its three tools, whose descriptions say results come from a remote machine and calls are checked and may wait for approval', async () => {
    const { tools } = await aliceMcp.client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ['vaultysclaw_approvals', 'vaultysclaw_dispatch', 'vaultysclaw_listAgents']);
    const dispatchTool = tools.find((t) => t.name === 'vaultysclaw_dispatch')!;
    assert.match(dispatchTool.description ?? '', /remote machine/);
    assert.match(dispatchTool.description ?? '', /signed/);
    assert.match(dispatchTool.description ?? '', /reviewer approves/);
    for (const capability of ['read_file', 'list_files', 'write_file', 'run_command', 'http_fetch', 'llm_task']) assert.match(dispatchTool.description ?? '', new RegExp(`${capability} \\{`));
    assert.deepEqual((dispatchTool.inputSchema.required ?? []).sort(), ['agent', 'capability', 'params']);
  });

  test("listAgents shows the agent, its rules in words and the caller's own grants only", async () => {
    const mine = resultText(await aliceMcp.client.callTool({ name: 'vaultysclaw_listAgents', arguments: {} }));
    assert.match(mine, new RegExp(`mcp-build-01 \\(${agent.did}\\): approved, online`));
    assert.match(mine, /your grants here: read_file, list_files, run_command/);
    assert.match(mine, /write_file: allowed/);
    assert.match(mine, /list_files: needs approval by a reviewer/);
    const bobs = resultText(await bobMcp.client.callTool({ name: 'vaultysclaw_listAgents', arguments: {} }));
    assert.match(bobs, /your grants here: run_command\n/);
  });

  test('dispatches read_file to the real agent by its name and returns the file text, naming the agent that signed it, with progress', async () => {
    const messages: string[] = [];
    const result = await dispatch(aliceMcp, { agent: 'mcp-build-01', capability: 'read_file', params: { path: 'hello.txt' } }, { onprogress: (p) => messages.push(p.message ?? '') });
    const text = resultText(result);
    assert.notEqual(result.isError, true, text);
    assert.ok(text.includes(FILE_TEXT), text);
    assert.match(text, new RegExp(`Result from agent mcp-build-01 \\(${agent.did}\\), signed by it`));
    assert.ok(messages.some((m) => /signed and sent to agent mcp-build-01/.test(m)), `progress: ${JSON.stringify(messages)}`);
    const detail = await call(owner, 'intentsGet', { id: intentIdOf(text) });
    assert.deepEqual([detail.state, detail.user, detail.capability], ['succeeded', alice.did, 'read_file']);
    // Provenance: the MCP client's name, signed by the broker into the intent and kept in its audit line.
    assert.equal(detail.via, 'mcp:Claude Code');
    assert.ok(auditLines(broker.dataDir).some((l) => l.event === 'intent.routed' && l.intentId === detail.id && l.via === 'mcp:Claude Code'), 'the routed line names the MCP client');
  });

  test('calls in flight at once in one session each get their own result', async () => {
    const command = (word: string, delay: string) => ({ command: 'sh', args: ['-c', `sleep ${delay}; echo ${word}`], cwd: '.', timeoutMs: 30_000 });
    const [slow, fast] = await Promise.all([
      dispatch(aliceMcp, { agent: agent.did, capability: 'run_command', params: command('slow-answer', '1') }),
      dispatch(aliceMcp, { agent: agent.did, capability: 'run_command', params: command('fast-answer', '0.1') }),
    ]);
    assert.match(resultText(slow), /exit code 0[\s\S]*stdout:\nslow-answer\n/);
    assert.match(resultText(fast), /exit code 0[\s\S]*stdout:\nfast-answer\n/);
  });

  test('an output past BUDGETS.modelResultBytes is cut to it, and the cut is said', async () => {
    writeFileSync(join(agent.workspace, 'big.txt'), 'x'.repeat(BUDGETS.modelResultBytes.limit + 1));
    const text = resultText(await dispatch(aliceMcp, { agent: agent.did, capability: 'read_file', params: { path: 'big.txt' } }));
    assert.ok(Buffer.byteLength(text) <= BUDGETS.modelResultBytes.limit, `${Buffer.byteLength(text)} bytes`);
    assert.match(text, /\[cut here: a tool result is at most/);
    assert.match(text, /signed by it/, 'the closing lines are kept');
  });

  test('an ungranted capability comes back as a refusal: isError, the reason in words and what to do', async () => {
    const result = await dispatch(aliceMcp, { agent: 'mcp-build-01', capability: 'write_file', params: { path: 'x.txt', content: 'no', mode: 'create' } });
    const text = resultText(result);
    assert.equal(result.isError, true, text);
    assert.match(text, /^Refused: write_file on agent mcp-build-01 .*\. The broker refused to send it: .+ \([a-z-]+\)\.\n/);
    assert.match(text, /ask the user/);
    assert.match(text, /Refused by the broker before signing: nothing was sent/);
    const detail = await call(owner, 'intentsGet', { id: intentIdOf(text) });
    assert.deepEqual([detail.state, detail.rejectedBy, detail.reason, detail.user], ['rejected', 'broker', 'delegation-capability', alice.did]);
  });

  test("a second user's MCP server acts as that user only: it cannot use the first user's grant", async () => {
    const result = await dispatch(bobMcp, { agent: 'mcp-build-01', capability: 'read_file', params: { path: 'hello.txt' } });
    const text = resultText(result);
    assert.equal(result.isError, true, text);
    assert.ok(!text.includes(FILE_TEXT), 'no file text for bob');
    const detail = await call(owner, 'intentsGet', { id: intentIdOf(text) });
    assert.deepEqual([detail.state, detail.reason, detail.user], ['rejected', 'delegation-capability', bob.did]);
  });

  test("the client's cancel ends its own intent cancelled at the broker, and another user's cancel never ends the first user's", async () => {
    const [aliceMarker, bobMarker] = [String(randomInt(1e8, 1e9)), String(randomInt(1e8, 1e9))];
    const [aliceAbort, bobAbort] = [new AbortController(), new AbortController()];
    const aliceCall = dispatch(aliceMcp, { agent: agent.did, capability: 'run_command', params: ticker(aliceMarker) }, { signal: aliceAbort.signal });
    const bobCall = dispatch(bobMcp, { agent: agent.did, capability: 'run_command', params: ticker(bobMarker) }, { signal: bobAbort.signal });
    const [aliceIntent, bobIntent] = await Promise.all([intentWithMarker(aliceMarker), intentWithMarker(bobMarker)]);
    assert.deepEqual([aliceIntent.user, bobIntent.user], [alice.did, bob.did]);

    bobAbort.abort();
    await assert.rejects(bobCall, /abort/i);
    await waitFor('bob\'s intent cancelled', async () => (await call(owner, 'intentsGet', { id: bobIntent.id })).state === 'cancelled', 15_000);
    assert.equal((await call(owner, 'intentsGet', { id: aliceIntent.id })).state, 'running', "bob's cancel did not end alice's intent");

    aliceAbort.abort();
    await assert.rejects(aliceCall, /abort/i);
    const ended = await waitFor('alice\'s intent cancelled', async () => {
      const d = await call(owner, 'intentsGet', { id: aliceIntent.id });
      return d.state === 'cancelled' ? d : undefined;
    }, 15_000);
    assert.match(ended.message ?? '', new RegExp(`cancelled by ${alice.did}`));
  });

  test('a client that goes away mid-call (the editor closed) cancels its intent at the broker', async () => {
    const session = await mcpAs(alice, 'closing-editor');
    const marker = String(randomInt(1e8, 1e9));
    const pending = dispatch(session, { agent: agent.did, capability: 'run_command', params: ticker(marker) }).catch((err: Error) => err);
    const running = await intentWithMarker(marker);
    await session.close();
    assert.ok((await pending) instanceof Error, 'the call ended with its client');
    const ended = await waitFor('the intent cancelled', async () => {
      const d = await call(owner, 'intentsGet', { id: running.id });
      return d.state === 'cancelled' ? d : undefined;
    }, 15_000);
    assert.match(ended.message ?? '', new RegExp(`cancelled by ${alice.did}`));
  });

  test('malformed calls get an MCP error result and the server keeps serving', async () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ agent: 'mcp-build-01', capability: 'read_file' }, /params/],
      [{ agent: 'mcp-build-01', capability: 'read_file', params: 'hello.txt' }, /params/],
      [{ agent: 42, capability: 'read_file', params: {} }, /agent/],
      [{ agent: 'mcp-build-01', capability: 'format_disk', params: {} }, /capability/],
      [{ agent: 'no-such-agent', capability: 'read_file', params: { path: 'hello.txt' } }, /No approved agent is named "no-such-agent"/],
      [{ agent: 'mcp-build-01', capability: 'read_file', params: { path: 42 } }, /bad params|path/i],
    ];
    for (const [args, reason] of bad) {
      const result = await dispatch(aliceMcp, args);
      assert.equal(result.isError, true, `${JSON.stringify(args)}: ${resultText(result)}`);
      assert.match(resultText(result), reason, JSON.stringify(args));
    }
    const unknownTool = await aliceMcp.client.callTool({ name: 'vaultysclaw_formatDisk', arguments: {} }).catch((err: Error) => ({ isError: true, content: [{ type: 'text', text: err.message }] }));
    assert.equal(unknownTool.isError, true);

    // Params past what a signed intent holds (BUDGETS.envelopePayloadBytes) are refused before the broker's socket.
    const limit = BUDGETS.envelopePayloadBytes.limit;
    const envelope = (bytes: number) => ({ path: 'huge.txt', mode: 'create', content: 'y'.repeat(bytes - JSON.stringify({ path: 'huge.txt', mode: 'create', content: '' }).length) });
    const over = await dispatch(aliceMcp, { agent: 'mcp-build-01', capability: 'write_file', params: envelope(limit + 1) });
    assert.equal(over.isError, true);
    assert.match(resultText(over), new RegExp(`The params are ${limit + 1} bytes as JSON; a signed intent holds at most ${limit}`));
    const at = await dispatch(aliceMcp, { agent: 'mcp-build-01', capability: 'write_file', params: envelope(limit) });
    assert.equal(at.isError, true);
    assert.doesNotMatch(resultText(at), /bytes as JSON/, 'at the bound, the broker decides (it refuses a write past writeFileBytes)');
    assert.match(resultText(at), /^Refused: write_file on agent mcp-build-01 .*\([a-z-]+\)\.\n/);

    assert.equal(aliceMcp.ended(), false, 'the server is still running');
    const next = await dispatch(aliceMcp, { agent: 'mcp-build-01', capability: 'read_file', params: { path: 'hello.txt' } });
    assert.ok(resultText(next).includes(FILE_TEXT), 'the next call is served');
  });

  test('a call held for a reviewer: progress says so, approvals lists it, and a rejection comes back as a refusal with its hint', async () => {
    assert.match(resultText(await aliceMcp.client.callTool({ name: 'vaultysclaw_approvals', arguments: {} })), /No tool call waits for a reviewer\./);
    const messages: string[] = [];
    const held = dispatch(aliceMcp, { agent: 'mcp-build-01', capability: 'list_files', params: { path: '.' } }, { onprogress: (p) => messages.push(p.message ?? '') });
    const approval = await waitFor('the pending approval', async () => (await call(owner, 'approvalsList', { state: 'pending' })).items.find((a) => a.user === alice.did && a.capability === 'list_files'));
    const listed = resultText(await aliceMcp.client.callTool({ name: 'vaultysclaw_approvals', arguments: {} }));
    assert.match(listed, new RegExp(`request ${approval.requestId}: list_files \{"path":"\."\}; on agent mcp-build-01 .*asked by you`));
    await waitFor('the held progress', () => messages.some((m) => m.includes(`held for a reviewer's approval (request ${approval.requestId})`)));

    await call(owner, 'approvalsDecide', decisionParams(owner.identity, approval, 'reject'));
    const result = await held;
    const text = resultText(result);
    assert.equal(result.isError, true, text);
    assert.match(text, /^Refused: list_files on agent mcp-build-01 .*\. The agent refused it: .*\(approval-rejected\)\.\nA reviewer rejected this call; do not retry it unchanged/);
    assert.match(text, /Result from agent mcp-build-01 .*signed by it/);
    assert.equal((await call(owner, 'intentsGet', { id: intentIdOf(text) })).reason, 'approval-rejected');
  });

  test("the CLI's dispatch waits the same way (one dispatch-and-wait) and prints the signed result", async () => {
    const { stdout } = await run(process.execPath, [join(ROOT, 'dist', 'broker.js'), 'dispatch', agent.did, 'read_file', '{"path":"hello.txt"}', '--url', broker.url, '--broker-did', broker.did, '--key', keys.get(alice.did)!], {
      timeout: 60_000,
    });
    const printed = JSON.parse(stdout) as IntentDetail;
    assert.deepEqual([printed.state, printed.user, (printed.output as { content?: string }).content], ['succeeded', alice.did, FILE_TEXT]);
    assert.ok(printed.signedResult, 'the detail with its signed result');
  });

  test('a message up to BUDGETS.mcpMessageBytes is answered; one byte more stops the server with the reason on stderr', async () => {
    const limit = BUDGETS.mcpMessageBytes.limit;
    const child = spawn(process.execPath, [join(ROOT, 'dist', 'broker.js'), 'mcp', '--url', broker.url, '--broker-did', broker.did, '--key', keys.get(alice.did)!], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const answer = (id: number) =>
        waitFor(`the answer to request ${id}`, () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { id?: number; result?: { isError?: boolean; content: { text: string }[] } }).find((m) => m.id === id), 30_000);
      const send = (message: object) => child.stdin.write(`${JSON.stringify(message)}\n`);
      send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'raw-client', version: '1' } } });
      await answer(1);
      send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      const call = (id: number, content: string) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'vaultysclaw_dispatch', arguments: { agent: agent.did, capability: 'write_file', params: { path: 'big.txt', mode: 'create', content } } } });
      // ASCII only: one character is one byte, and the line with its line feed is exactly `bytes` long.
      const line = (id: number, bytes: number) => `${JSON.stringify(call(id, 'w'.repeat(bytes - JSON.stringify(call(id, '')).length - 1)))}\n`;
      assert.equal(Buffer.byteLength(line(2, limit)), limit);
      // A line that is not JSON is logged on stderr and skipped: the next message is served.
      child.stdin.write('this is not JSON\n');
      child.stdin.write(line(2, limit));
      const atBound = await answer(2);
      assert.equal(atBound.result?.isError, true);
      assert.match(atBound.result?.content[0]?.text ?? '', /bytes as JSON; a signed intent holds at most/);

      for (const l of out.split('\n').filter(Boolean)) assert.equal((JSON.parse(l) as { jsonrpc?: string }).jsonrpc, '2.0', `stdout carries the protocol only: ${l.slice(0, 200)}`);

      child.stdin.write(line(3, limit + 1));
      assert.equal(await exited, 1);
      assert.match(err, new RegExp(`broker mcp: the MCP connection failed \\(ReadBuffer exceeded maximum size of ${limit} bytes\\); messages are at most ${limit} bytes`));
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('the broker going away ends the server with a clear message on stderr', async () => {
    await broker.kill();
    await waitFor('the MCP server to end', () => aliceMcp.ended(), 15_000);
    assert.match(aliceMcp.stderr(), /broker mcp: the broker closed the connection/);
  });
});
