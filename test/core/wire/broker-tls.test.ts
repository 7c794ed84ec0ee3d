// The unit contract of core/wire/broker-tls; the agent and CLI processes against a real wss:// broker are test/e2e/agent-tls.test.ts.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WebSocketServer } from 'ws';
import { BrokerTlsError, brokerWebSocket, normalizeFingerprint, openBrokerWebSocket } from '../../../core/wire/broker-tls';
import { removeDirs, tempDir } from '../../support/processes';

test('normalizeFingerprint: 64 hex digits, colons, spaces and case ignored; anything else is none', () => {
  const hex = 'ab'.repeat(32);
  assert.equal(normalizeFingerprint(hex), hex.toUpperCase());
  assert.equal(normalizeFingerprint(hex.match(/../g)!.join(':')), hex.toUpperCase());
  assert.equal(normalizeFingerprint(` ${hex.toUpperCase()} `), hex.toUpperCase());
  for (const bad of ['', 'ab'.repeat(31), 'ab'.repeat(33), `${'ab'.repeat(31)}zz`]) assert.equal(normalizeFingerprint(bad), null, bad);
});

describe('wss:// to a broker with a self-signed certificate (real TLS on loopback)', () => {
  let dir: string;
  let url: string;
  let fingerprint: string;
  let cert: Buffer;
  let upgrades = 0;
  let close: () => void;

  before(async () => {
    dir = tempDir('broker-tls');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { cwd: dir, stdio: 'ignore' });
    cert = readFileSync(join(dir, 'cert.pem'));
    fingerprint = new X509Certificate(cert).fingerprint256;
    const server = createServer({ cert, key: readFileSync(join(dir, 'key.pem')) });
    const wss = new WebSocketServer({ server });
    server.on('upgrade', () => upgrades++);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `wss://127.0.0.1:${(server.address() as { port: number }).port}/rpc?secret=1`;
    close = () => {
      wss.close();
      server.closeAllConnections();
      server.close();
    };
  });
  after(() => {
    close();
    removeDirs(dir);
  });

  test('the pinned certificate (any spelling of its fingerprint) or the CA that signed it opens the connection', async () => {
    for (const tls of [{ pinSha256: fingerprint }, { pinSha256: fingerprint.replace(/:/g, '').toLowerCase() }, { ca: cert }]) {
      const socket = await openBrokerWebSocket(url, tls, 10_000);
      socket.close();
    }
  });

  test('another pin is refused at the TLS layer, before the upgrade request (its path and query) is sent', async () => {
    const before = upgrades;
    await assert.rejects(brokerWebSocket(url, { pinSha256: 'ab'.repeat(32) }, {}, 10_000), (err: unknown) => {
      assert.ok(err instanceof BrokerTlsError);
      assert.equal(err.reason, 'pin-mismatch');
      assert.match(err.message, new RegExp(`SHA-256 ${fingerprint.replace(/:/g, '')}, not the pinned ${'AB'.repeat(32)}`));
      return true;
    });
    assert.equal(upgrades, before);
  });

  test('with neither pin nor CA, the system CAs refuse a self-signed certificate as untrusted', async () => {
    await assert.rejects(brokerWebSocket(url, undefined, {}, 10_000), (err: unknown) => err instanceof BrokerTlsError && err.reason === 'untrusted-certificate');
  });

  test('a closed port is unreachable, and the message names the broker without the credentials in its URL', async () => {
    await assert.rejects(openBrokerWebSocket('wss://someone:s3cret@127.0.0.1:1/rpc', { pinSha256: fingerprint }, 5_000), (err: Error) => {
      assert.match(err.message, /^cannot reach the broker at wss:\/\/127\.0\.0\.1:1\/rpc: /);
      assert.equal(err.message.includes('s3cret'), false);
      return true;
    });
  });
});
