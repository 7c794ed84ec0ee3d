/**
 * Issue 21: agents keep the broker's latest signed audit checkpoint as a witness of its log. A broker (or whoever
 * speaks for it on the wire) that hands an agent an oversize head, one not signed by the broker it authenticated,
 * or an older one than it sent before, changes nothing the agent holds. A real agent process behind a WebSocket
 * proxy on 127.0.0.1 to a real broker; the proxy injects the rogue heads, signed where needed with the broker's own
 * key (what a compromised broker holds). Agents before 0.6.0 are never sent a head (in-process rogue agents).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AUDIT_HEAD_FILE } from '../../agent/store/audit-head-store';
import { CHECKPOINT_EVENT, signCheckpoint } from '../../core/audit/chain-entry';
import { BUDGETS } from '../../core/budgets';
import { IdType, readKeyFile, SecretIdentity } from '../../core/identity';
import { encodeFrame } from '../../core/wire/frame-codec';
import { removeDirs, startAgent, startBroker, type AgentProcess, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen } from '../support/started';
import { MitmProxy } from './support/mitm-proxy';
import { HubSocket, RogueAgent } from './support/rogue-agent';

exitIfHeldOpen(30_000);
let broker: BrokerProcess;
let proxy: MitmProxy;
let agent: AgentProcess;
let brokerKey: SecretIdentity;

/** A checkpoint line as the broker writes one, signed by `signer`, padded to `bytes` long if asked. */
function checkpointLine(signer: SecretIdentity, seq: number, bytes?: number): string {
  const head = randomBytes(32).toString('hex');
  const fields = {
    seq,
    prev: head,
    level: 30,
    time: Date.now(),
    component: 'audit',
    event: CHECKPOINT_EVENT,
    reason: 'lines',
    head,
    broker: signer.did,
    brokerId: signer.id.toBase64(),
    signature: signCheckpoint(signer, seq, head),
    pad: '',
  };
  const unpadded = Buffer.byteLength(JSON.stringify(fields));
  return JSON.stringify(bytes === undefined ? fields : { ...fields, pad: 'x'.repeat(bytes - unpadded) });
}

const inject = (line: string) => proxy.injectToAgent(encodeFrame({ type: 'audit/head', line: Buffer.from(line, 'utf8') }));
const headFile = () => join(agent.stateDir, AUDIT_HEAD_FILE);
const heldLines = () => readFileSync(headFile(), 'utf8').split('\n').filter((l) => l.length > 0);
const count = (event: string) => agent.log.lines.filter((l) => l.event === event).length;

/** Injects a head and waits for the agent's verdict on it (the next line of `event`). */
async function offered(line: string, event: 'audit-head.kept' | 'audit-head.refused' | 'audit-head.regressed'): Promise<Record<string, unknown>> {
  const before = count(event);
  inject(line);
  return agent.log.waitFor(event, () => count(event) > before).then(() => agent.log.lines.filter((l) => l.event === event).at(-1)!);
}

before(async () => {
  broker = await startBroker();
  proxy = await MitmProxy.start(broker.url);
  agent = await startAgent({ brokerUrl: proxy.url, brokerDid: broker.did, name: 'witness', request: 'list_files' });
  brokerKey = readKeyFile(join(broker.dataDir, 'broker.key'));
  // Once after the handshake: the log's latest checkpoint (the new log's first).
  await agent.log.waitFor('audit-head.kept', (l) => l.broker === broker.did);
});
after(async () => {
  await agent?.kill();
  await proxy?.close();
  await broker?.kill();
  removeDirs(...[broker?.dataDir, agent?.stateDir, agent?.workspace].filter((d): d is string => d !== undefined));
});

describe("an agent keeps the broker's audit head", () => {
  test('the head the broker sends after the handshake is kept as it is in audit.log, 0600, under the broker DID', () => {
    const held = heldLines();
    assert.equal(held.length, 1);
    assert.equal(statSync(headFile()).mode & 0o777, 0o600);
    const audit = readFileSync(join(broker.dataDir, 'audit.log'), 'utf8').split('\n');
    assert.ok(audit.includes(held[0]!), 'the exact bytes of a line of audit.log');
    assert.equal((JSON.parse(held[0]!) as { broker: string }).broker, broker.did);
    assert.equal(proxy.frames('toAgent', 'audit/head').length >= 1, true);
  });

  test(`BUDGETS.auditHeadBytes: a head of ${BUDGETS.auditHeadBytes.limit} bytes is kept, one of ${BUDGETS.auditHeadBytes.limit + 1} is refused unstored and the connection stays`, async () => {
    const atBound = checkpointLine(brokerKey, 1000, BUDGETS.auditHeadBytes.limit);
    assert.equal(Buffer.byteLength(atBound), BUDGETS.auditHeadBytes.limit);
    assert.equal((await offered(atBound, 'audit-head.kept')).seq, 1000);
    assert.deepEqual(heldLines(), [atBound]);

    const over = checkpointLine(brokerKey, 2000, BUDGETS.auditHeadBytes.limit + 1);
    const refused = await offered(over, 'audit-head.refused');
    assert.equal(refused.reason, 'oversize');
    assert.deepEqual(heldLines(), [atBound]);
    assert.equal(count('hub.connected'), 1, 'the connection was not dropped over it');
  });

  test('a badly signed head is refused: a tampered signature, and a head signed by another key than the broker the agent authenticated', async () => {
    const kept = heldLines();
    const line = JSON.parse(checkpointLine(brokerKey, 3000)) as Record<string, string>;
    const signature = line.signature!;
    const tampered = JSON.stringify({ ...line, signature: `${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}` });
    const bad = await offered(tampered, 'audit-head.refused');
    assert.equal(bad.reason, 'bad-signature');
    assert.match(String(bad.detail), /does not verify/);

    const stranger = SecretIdentity.generate(IdType.Machine);
    const foreign = await offered(checkpointLine(stranger, 3001), 'audit-head.refused');
    assert.equal(foreign.reason, 'bad-signature');
    assert.match(String(foreign.detail), new RegExp(`signed by ${stranger.did}, not by the broker ${broker.did}`));
    assert.deepEqual(heldLines(), kept);
  });

  test('a lower seq than the one held, or another checkpoint at the same seq, is refused and logged as evidence; the one held stays', async () => {
    const kept = heldLines();
    const lower = await offered(checkpointLine(brokerKey, 500), 'audit-head.regressed');
    assert.deepEqual([lower.reason, lower.held], ['lower-seq', 1000]);
    // Another checkpoint at the very seq held: the log was rewritten from before it.
    const other = await offered(checkpointLine(brokerKey, 1000), 'audit-head.regressed');
    assert.deepEqual([other.reason, other.held], ['conflicting', 1000]);
    assert.deepEqual(heldLines(), kept);
    assert.equal(count('hub.bad-frame'), 0);
    assert.equal(count('hub.connected'), 1);
  });
});

describe('agents before 0.6.0', () => {
  test('are never sent an audit/head frame (their strict decoder would drop the connection); 0.6.0 gets one after its handshake', async () => {
    const hello = (agentVersion: string) => ({ name: `rogue-${agentVersion}`, requested: ['list_files' as const], agentVersion });
    const old = new RogueAgent(SecretIdentity.generate(IdType.Machine), broker.url, broker.did, hello('0.5.0'));
    const current = new RogueAgent(SecretIdentity.generate(IdType.Machine), broker.url, broker.did, hello('0.6.0'));
    const sockets: HubSocket[] = [];
    try {
      const first = await old.authenticate();
      sockets.push(first.hub);
      const second = await current.authenticate();
      sockets.push(second.hub);
      const head = await second.hub.next('audit/head');
      assert.match(Buffer.from(head.line).toString('utf8'), new RegExp(`"broker":"${broker.did}"`));
      // The old agent's head would have followed its auth/accepted on the same socket, before the newer agent even connected.
      assert.deepEqual(first.hub.frames.filter((f) => f.type === 'audit/head'), []);
      assert.equal(first.hub.closed, undefined);
    } finally {
      for (const socket of sockets) socket.close();
    }
  });
});
