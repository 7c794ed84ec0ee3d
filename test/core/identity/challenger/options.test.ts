import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_LIVENESS_MS, DEFAULT_MAX_MESSAGE_BYTES } from '../../../../core/identity';
import { resolveSide } from '../../../../core/identity/challenger/options';
import { identityFrom, PROTOCOL, SERVICE } from '../support/handshake';

const identity = identityFrom(3);

test('a side left to its defaults gets the spec\'s liveness window and size bound, the real clock and fresh 16-byte nonces', () => {
  const side = resolveSide({ identity, protocol: PROTOCOL, service: SERVICE });
  assert.equal(side.identity, identity);
  assert.equal(side.livenessMs, DEFAULT_LIVENESS_MS);
  assert.equal(side.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES);
  const before = Date.now();
  const now = side.now();
  assert.ok(now >= before && now <= Date.now());
  const nonces = Array.from({ length: 8 }, () => side.randomNonce());
  for (const nonce of nonces) assert.equal(nonce.length, 16);
  assert.equal(new Set(nonces.map((n) => Buffer.from(n).toString('hex'))).size, nonces.length, 'a nonce repeated');
});

test('what a side is given is kept as given', () => {
  const nonce = new Uint8Array(16).fill(9);
  const side = resolveSide({ identity, protocol: 'p', service: 's', livenessMs: 5, maxMessageBytes: 100, now: () => 42, randomNonce: () => nonce });
  assert.deepEqual(
    { protocol: side.protocol, service: side.service, livenessMs: side.livenessMs, maxMessageBytes: side.maxMessageBytes, now: side.now(), nonce: side.randomNonce() },
    { protocol: 'p', service: 's', livenessMs: 5, maxMessageBytes: 100, now: 42, nonce },
  );
});
