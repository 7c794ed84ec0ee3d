/**
 * Soak: the threat model's adversaries all at once, each playing by the protocol, against one broker that serves an
 * honest agent and its users. A compromised agent reports extreme token numbers for intents it holds and reconnects
 * again and again; a viewer asks for the largest pages it may; strangers open sockets that never speak and flood
 * the login; a registration flood of fresh agent ids; a web page's origin; an operator's oversized write. Meanwhile
 * an honest user dispatches one intent after another to the honest agent. Every honest intent must succeed within a
 * latency bound; the broker's memory and its audit log must stay bounded; the broker must still be healthy after.
 *
 * CI runs it for VAULTYSCLAW_SOAK_SECONDS (20 s by default); a long run is the same file with a larger number.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { BUDGETS } from '../../core/budgets';
import { seal } from '../../core/identity';
import { utcDay } from '../../core/policy/utc-day';
import { encodeFrame } from '../../core/wire/frame-codec';
import { bounded, finalIntent, Fleet } from '../attacks/support/fleet';
import { call, joinAs, ownerOf, RawRpc, registerAgent, type Member } from '../attacks/support/team';

const SOAK_MS = Number(process.env.VAULTYSCLAW_SOAK_SECONDS ?? 20) * 1000;
/** An honest intent answers within this while the attacks run (generous: two shared cores, a dozen processes). */
const HONEST_LATENCY_BOUND_MS = 15_000;
/** What the broker may grow by while attacked. The unbounded failures this guards against grew by gigabytes. */
const RSS_GROWTH_BOUND_BYTES = 256 * 1024 * 1024;

let fleet: Fleet;
let owner: Member;
let viewer: Member;
before(async () => {
  fleet = await Fleet.start();
  owner = ownerOf(fleet.broker);
  viewer = await joinAs(fleet.broker, owner, 'viewer', 'soak-viewer');
  // The honest user's intents come one after another for the whole soak: room for all of them in the hourly rate.
  await call(owner, 'policySet', { did: fleet.honest.did, policy: { capabilities: ['read_file', 'list_files'], maxRequestsPerHour: 1_000_000 } });
  await fleet.honest.log.waitFor('auth.succeeded', (l) => Number(l.policyVersion) >= 2);
});
after(async () => {
  viewer?.client.close();
  await fleet?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** Runs `step` until the deadline, never more than `maxSteps` times; an attack's own failures are counted, not thrown. */
async function attackLoop(deadline: number, maxSteps: number, step: (i: number) => Promise<void>): Promise<{ steps: number; refused: number }> {
  let steps = 0;
  let refused = 0;
  while (Date.now() < deadline && steps < maxSteps) {
    try {
      await step(steps);
    } catch {
      refused++;
      // A refused attacker backs off a little, so a refusal loop measures the broker, not this process spinning.
      await sleep(50);
    }
    steps++;
  }
  return { steps, refused };
}

describe('soak: every adversary at once; honest work goes on', () => {
  test('honest intents keep succeeding within the bound; the broker stays up with bounded memory and audit log', async () => {
    const pid = fleet.broker.child.pid!;
    const audit = join(fleet.broker.dataDir, 'audit.log');
    const url = new URL(fleet.broker.url);
    await fleet.assertHealthy();
    const rssBefore = rssBytes(pid);
    const auditBefore = statSync(audit).size;
    const deadline = Date.now() + SOAK_MS;

    let rssMax = rssBefore;
    const sampler = setInterval(() => {
      try {
        rssMax = Math.max(rssMax, rssBytes(pid));
      } catch {
        // The broker died: the assertions below say so.
      }
    }, 250);

    const honest = { succeeded: 0, failed: [] as string[], slowestMs: 0 };
    const honestLoop = (async () => {
      while (Date.now() < deadline) {
        const startedAt = Date.now();
        try {
          const sent = await call(owner, 'intentsDispatch', { agent: fleet.honest.did, capability: 'list_files', params: { path: '.' } }, HONEST_LATENCY_BOUND_MS);
          const done = await finalIntent(fleet.broker, sent.id, HONEST_LATENCY_BOUND_MS);
          if (done.state === 'succeeded') honest.succeeded++;
          else honest.failed.push(`${done.state} ${done.reason} ${done.message}`);
        } catch (err) {
          honest.failed.push((err as Error).message);
        }
        honest.slowestMs = Math.max(honest.slowestMs, Date.now() - startedAt);
        await sleep(100);
      }
    })();

    const attacks = {
      // A compromised, approved agent: holds the intents it is sent and reports the largest token counts the wire
      // allows, for today, yesterday and far days, for intents it holds and intents it never got; reconnects often.
      tokenRogue: (async () => {
        const { rogue } = await fleet.approvedRogue('soak-rogue', { capabilities: ['list_files', 'llm_task'], maxRequestsPerHour: 100_000 });
        const held: string[] = [];
        for (let i = 0; i < 5; i++) {
          const sent = await call(owner, 'intentsDispatch', { agent: rogue.did, capability: 'list_files', params: { path: '.' } });
          held.push(sent.id);
        }
        const days = [utcDay(Date.now()), utcDay(Date.now() - 86_400_000), '1970-01-01', '9999-12-31'];
        return attackLoop(deadline, 10_000, async (i) => {
          const { hub } = await rogue.authenticate();
          for (let k = 0; k < 40 && hub.socket.readyState === WebSocket.OPEN; k++) {
            const intentId = k % 2 === 0 ? held[k % held.length] : randomBytes(16).toString('hex');
            const body = { intentId, agent: rogue.did, seq: i * 40 + k, stream: 'status', text: 'é'.repeat(1000), at: Date.now(), usage: { day: days[k % days.length], tokens: Number.MAX_SAFE_INTEGER - k } };
            hub.sendRaw(encodeFrame({ type: 'progress', envelope: seal(rogue.identity, 'vaultysclaw/progress/v1', body) }));
            await sleep(25);
          }
          hub.close();
        });
      })(),
      // A viewer asking for the largest pages of everything, as fast as answers come.
      greedyViewer: attackLoop(deadline, 100_000, async () => {
        const limit = BUDGETS.listPageItems.limit;
        const intents = await call(viewer, 'intentsList', { limit });
        for (const { id } of intents.items.slice(0, 5)) await call(viewer, 'intentsGet', { id });
        await call(viewer, 'agentsList', { limit });
        await call(viewer, 'registrationsList', { limit });
      }),
      // Strangers: TCP sockets that never send a byte, held open (a bounded number).
      silentSockets: (async () => {
        const sockets: Socket[] = [];
        const result = await attackLoop(deadline, 300, async () => {
          const socket = connect(Number(url.port), url.hostname);
          socket.on('error', () => undefined);
          sockets.push(socket);
          await sleep(20);
        });
        await sleep(Math.max(0, deadline - Date.now()));
        for (const s of sockets) s.destroy();
        return result;
      })(),
      // A stranger flooding the login on /rpc with handshakes that cannot succeed.
      loginFlood: attackLoop(deadline, 100_000, async () => {
        const raw = await RawRpc.connect(fleet.broker.url);
        try {
          const attempts = Array.from({ length: 50 }, () =>
            raw.request('vaultysclaw/session/init', { challenge: Buffer.from(randomBytes(64)).toString('base64') }).catch(() => undefined),
          );
          // The broker ends a socket that spends its pre-login budget: wait for the answers or for that, not for every timeout.
          await Promise.race([Promise.all(attempts), sleep(1_000)]);
        } finally {
          raw.close();
        }
      }),
      // A registration flood: fresh agent ids completing the handshake, each a would-be pending registration.
      registrations: attackLoop(deadline, 100_000, async () => {
        await registerAgent(fleet.broker);
      }),
      // A web page: a browser sends its Origin with every WebSocket it opens to 127.0.0.1.
      webPage: attackLoop(deadline, 100_000, async () => {
        for (const path of ['/', '/rpc']) {
          const socket = new WebSocket(`${fleet.broker.url.replace(/\/+$/, '')}${path}`, { headers: { Origin: 'http://attacker.example' } });
          await new Promise<void>((resolve) => {
            socket.once('open', () => resolve());
            socket.once('error', () => resolve());
            socket.once('unexpected-response', () => resolve());
          });
          socket.terminate();
        }
        await sleep(50);
      }),
      // An operator's write within the character limit but twice the frame size in bytes.
      oversizedIntent: attackLoop(deadline, 20, async () => {
        await call(owner, 'intentsDispatch', { agent: fleet.honest.did, capability: 'write_file', params: { path: 'big.txt', content: 'é'.repeat(1_000_000), mode: 'overwrite' } });
        await sleep(1_000);
      }),
    };

    const settled = await bounded('the attacks', Promise.allSettled(Object.values(attacks)), SOAK_MS + 60_000);
    await bounded('the honest loop', honestLoop, HONEST_LATENCY_BOUND_MS * 2 + 5_000);
    clearInterval(sampler);

    const outcome = Object.fromEntries(
      Object.keys(attacks).map((name, i) => {
        const s = settled[i]!;
        return [name, s.status === 'fulfilled' ? s.value : String(s.reason)];
      }),
    );
    const auditGrowth = statSync(audit).size - auditBefore;
    const summary = { seconds: SOAK_MS / 1000, honest, rssBeforeMB: rssBefore / 2 ** 20, rssMaxMB: rssMax / 2 ** 20, auditGrowthKB: auditGrowth / 1024, attacks: outcome };
    process.stdout.write(`soak: ${JSON.stringify(summary)}\n`);

    assert.equal(fleet.broker.child.exitCode, null, 'the broker exited during the soak');
    assert.deepEqual(honest.failed, [], 'an honest intent did not succeed');
    assert.ok(honest.succeeded >= Math.min(5, SOAK_MS / 2000), `only ${honest.succeeded} honest intents ran`);
    assert.ok(honest.slowestMs <= HONEST_LATENCY_BOUND_MS, `slowest honest intent ${honest.slowestMs} ms`);
    assert.ok(rssMax - rssBefore <= RSS_GROWTH_BOUND_BYTES, `broker RSS grew by ${(rssMax - rssBefore) / 2 ** 20} MB`);
    // What honest work may write (a few lines an intent) plus a bounded allowance for the summaries of refusals.
    const auditBound = honest.succeeded * 8 * 1024 + (SOAK_MS / 1000) * 64 * 1024;
    assert.ok(auditGrowth <= auditBound, `audit log grew by ${auditGrowth} B, bound ${auditBound} B`);
    await fleet.assertHealthy();
  });
});
