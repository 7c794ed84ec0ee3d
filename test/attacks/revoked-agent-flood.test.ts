/**
 * A revoked agent (a compromised build machine the owner cut off) comes back as often as it can open a socket: each
 * try is refused at INIT. Before, each refusal was a full line in the hash-chained audit log, written by the broker
 * outside any budget, and a second line by the hub: a disk-filling path to stopping the broker, which fails closed
 * when its log cannot be written. Now one line per try within BUDGETS.refusalAuditLines per BUDGETS.refusalSummaryMs
 * (3 here, the broker's --refusal-audit-lines), the rest counted into auth.refused-summary lines. Real broker process,
 * real sockets.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BUDGETS } from '../../core/budgets';
import { IdType, SecretIdentity } from '../../core/identity';
import { HUB_PROTOCOL_VERSION } from '../../core/wire/hub-messages';
import { waitFor, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';
import { bounded } from './support/fleet';
import { HubSocket, RogueAgent } from './support/rogue-agent';
import { auditLines, call, ownerOf } from './support/team';

exitIfHeldOpen();
const started = new Started();
/** BUDGETS.refusalAuditLines, lowered for the test through the broker's own flag. */
const LINES = 3;
let broker: BrokerProcess;
let rogue: RogueAgent;

before(async () => {
  assert.ok(LINES < BUDGETS.refusalAuditLines.limit);
  broker = await started.broker({ args: ['--refusal-audit-lines', String(LINES)] });
  const owner = ownerOf(broker);
  rogue = new RogueAgent(SecretIdentity.generate(IdType.Machine), broker.url, broker.did);
  const { hub } = await bounded('the agent registers', rogue.authenticate());
  await call(owner, 'registrationsApprove', { did: rogue.did, policy: { capabilities: ['read_file'] } });
  await call(owner, 'agentsRevoke', { did: rogue.did, reason: 'compromised' });
  await waitFor('the revoked agent cut off', () => hub.closed || undefined, 10_000);
});

after(async () => {
  await started.cleanup();
});

/** One try of the revoked agent: INIT on a new socket, answered with an error, the socket closed. */
async function comeBack(): Promise<string> {
  const hub = await HubSocket.connect(broker.url);
  try {
    hub.send({ type: 'auth/init', v: HUB_PROTOCOL_VERSION, challenge: rogue.newInitiator().init });
    return (await hub.next('error')).code;
  } finally {
    hub.close();
  }
}

test(`a revoked agent coming back ${5 * LINES} times: at most ${LINES} full lines an interval, once each, the rest counted into the summary; every try accounted for`, async () => {
  const tries = 5 * LINES;
  const startedAt = Date.now();
  for (let i = 0; i < tries; i++) assert.equal(await comeBack(), 'peer-refused', 'every try is refused');
  const intervals = Math.floor((Date.now() - startedAt) / BUDGETS.refusalSummaryMs.limit) + 2;
  const full = () => auditLines(broker.dataDir).filter((l) => l.event === 'auth.refused' && l.did === rogue.did);
  // Other refusals of the setup (the agent's pending handshake, its revocation) share the budget: counted by reason.
  const counted = () =>
    auditLines(broker.dataDir)
      .filter((l) => l.event === 'auth.refused-summary')
      .reduce((n, l) => n + ((l.reasons as Record<string, number>)['auth.refused:revoked'] ?? 0), 0);
  await waitFor('every try written in full or counted in a summary', () => full().length + counted() === tries || undefined, BUDGETS.refusalSummaryMs.limit + 10_000);
  assert.ok(full().length <= LINES * intervals, `${full().length} full lines for ${tries} tries over at most ${intervals} intervals`);
  assert.ok(full().every((l) => l.reason === 'revoked'), 'each full line says why: revoked');
  const peerRefused = auditLines(broker.dataDir).filter((l) => (l.event === 'auth.refused' || l.event === 'hub.refused') && l.code === 'peer-refused');
  assert.equal(peerRefused.length, 0, 'not written a second time by the hub');
});
