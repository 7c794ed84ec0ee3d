// The extension decides what a refused session means (retry, or stop and point at a setting or an invitation)
// from the error's reason, never its wording: a refusal reworded by the broker is decided the same, and the
// same words without a reason are not. Against a real broker: a team broker on its /rpc, the local one on stdio.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { ResponseError } from 'vscode-jsonrpc';
import { loadLocalOperator } from '../../broker/local-operator';
import { IdType, SecretIdentity } from '../../core/identity';
import { RpcError, rpcErrorReason } from '../../core/rpc/rpc-error';
import { BrokerSession } from '../../extension/connection/broker-session';
import type { LaunchBroker } from '../../extension/connection/local-session';
import { PermanentConnectError } from '../../extension/connection/supervisor';
import { connectTeamBroker, openTeamBroker, sessionRefusal } from '../../extension/connection/team-broker';
import { call, joinAs, ownerOf } from '../attacks/support/team';
import { removeDirs, tempDir } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';
import { connectLocal } from './support/local';
import { killLaunched, type LaunchedBroker } from './support/stdio-launcher';

exitIfHeldOpen();
const started = new Started();
const launched: LaunchedBroker[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await killLaunched(launched);
});
after(async () => {
  await started.cleanup();
  removeDirs(...dirs.splice(0));
});

const REWORDED = 'words no version of the extension has ever seen';

/** The same refusal in other words: the code and the reason kept. */
function reworded(err: unknown): unknown {
  if (err instanceof RpcError) return new RpcError(err.reason, REWORDED);
  const { code, data } = err as ResponseError<unknown>;
  return new ResponseError(code, REWORDED, data);
}

/** The same words and code, without a reason (what a caller matching on text would still have understood). */
function withoutReason(err: unknown): unknown {
  const { code, message } = err as ResponseError<unknown>;
  return new ResponseError(code, message);
}

/** How the connection would end: permanent (and its remedy) or retried. */
const outcome = (err: Error) => (err instanceof PermanentConnectError ? `permanent:${err.remedy ?? 'none'}` : 'retried');

describe('a team broker refusing the session', () => {
  test('stranger, removed user, wrong pin: each decided by its reason, the same when reworded, and not at all without it', async () => {
    const broker = await started.broker();
    const owner = ownerOf(broker);
    const removed = await joinAs(broker, owner, 'viewer', 'to-be-removed');
    removed.client.close();
    await call(owner, 'usersRemove', { did: removed.did });
    const cases = [
      { what: 'a stranger', identity: SecretIdentity.generate(IdType.Person), pin: broker.did, reason: 'invitation-needed', expected: 'permanent:enterInvitation' },
      { what: 'a removed user', identity: removed.identity, pin: broker.did, reason: 'user-removed', expected: 'permanent:none' },
      { what: 'another pinned DID', identity: loadLocalOperator(broker.dataDir), pin: SecretIdentity.generate(IdType.Machine).did, reason: 'broker-not-pinned', expected: 'permanent:openSettings' },
    ] as const;
    for (const c of cases) {
      const hello = { name: c.what.replace(/ /g, '-') };
      // What the editor does: the whole connection, refused for good.
      const refused = await connectTeamBroker(broker.url, c.pin, c.identity, hello).then(
        () => assert.fail(`${c.what} was let in`),
        (err: Error) => err,
      );
      assert.equal(outcome(refused), c.expected, `${c.what}: ${refused.message}`);
      // The refusal itself, as the broker (or the client's own pin check) raised it.
      const channel = await openTeamBroker(broker.url);
      const raw = await BrokerSession.open(channel.endpoint, c.identity, c.pin, hello).then(
        () => assert.fail(`${c.what} was let in`),
        (err: unknown) => err,
      );
      channel.close();
      assert.equal(rpcErrorReason(raw), c.reason, c.what);
      assert.equal(outcome(sessionRefusal(broker.url, raw)), c.expected, c.what);
      assert.equal(outcome(sessionRefusal(broker.url, reworded(raw))), c.expected, `${c.what}, reworded`);
      assert.match(sessionRefusal(broker.url, reworded(raw)).message, new RegExp(REWORDED), 'the words shown are the broker\'s own');
      assert.equal(outcome(sessionRefusal(broker.url, withoutReason(raw))), 'retried', `${c.what}: the words alone decide nothing`);
    }
  });
});

/** A self-signed certificate for 127.0.0.1, made here by openssl: its PEM, key and SHA-256 fingerprint. */
function selfSigned(dir: string, name: string): { cert: string; key: string; pin: string } {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  return { cert, key, pin: new X509Certificate(readFileSync(cert)).fingerprint256 };
}

describe('a team broker whose TLS certificate is refused', () => {
  test('by the pin or the CA: permanent, pointing at the TLS settings (BrokerTlsError reason); unreachable: retried', async () => {
    const pki = tempDir('session-refusal-pki');
    dirs.push(pki);
    const served = selfSigned(pki, 'broker');
    const other = selfSigned(pki, 'other');
    const broker = await started.broker({ args: ['--tls-cert', served.cert, '--tls-key', served.key] });
    assert.match(broker.url, /^wss:\/\//);
    const identity = loadLocalOperator(broker.dataDir);
    const hello = { name: 'tls' };
    const attempt = (url: string, tls: { pinSha256?: string; ca?: Buffer }) =>
      connectTeamBroker(url, broker.did, identity, hello, tls).then(
        () => assert.fail('connected'),
        (err: Error) => err,
      );
    for (const [what, tls] of [
      ['another pinned certificate', { pinSha256: other.pin }],
      ['a CA that did not sign it', { ca: readFileSync(other.cert) }],
    ] as const) {
      const err = await attempt(broker.url, tls);
      assert.equal(outcome(err), 'permanent:openSettings', `${what}: ${err.message}`);
      assert.match(err.message, /Check vaultysclaw\.brokerCaFile \/ vaultysclaw\.brokerTlsPin/, what);
    }
    const port = Number(new URL(broker.url).port);
    await broker.stop();
    const gone = await attempt(`wss://127.0.0.1:${port}`, { pinSha256: served.pin });
    assert.equal(outcome(gone), 'retried', `a broker that is not there: ${gone.message}`);
  });
});

/** A launcher whose endpoint hands the extension every refusal of the broker changed by `change`. */
const changingErrors = (change: (err: unknown) => unknown) => (inner: LaunchBroker): LaunchBroker => async (launch) => {
  const broker = await inner(launch);
  return {
    ...broker,
    endpoint: {
      sendRequest: (method, params) =>
        broker.endpoint.sendRequest(method, params).catch((err: unknown) => {
          throw change(err);
        }),
      onNotification: (method, handler) => broker.endpoint.onNotification(method, handler),
    },
  };
};

describe('the local broker refusing a second user key', () => {
  test('reworded, invitation-needed still has the host operator invite the key; the same words without the reason do not', async () => {
    const first = await connectLocal({ launched, name: 'first' });
    dirs.push(dirname(first.dataDir));
    await first.close();
    const second = await connectLocal({ launched, dataDir: first.dataDir, name: 'second', via: changingErrors(reworded) });
    assert.equal(second.session.role, 'admin', 'invited by the host operator');
    await second.close();
    await assert.rejects(
      connectLocal({ launched, dataDir: first.dataDir, name: 'third', via: changingErrors(withoutReason) }),
      /^Error: could not authenticate to the local broker: not authenticated: peer-refused: you are not a user of this broker: ask an admin for an invitation$/,
    );
  });
});
