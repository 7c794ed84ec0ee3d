import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ed25519PrivateKey, ed25519PublicKey, ed25519Sign, ed25519Verify, rawPublicKey, x25519, x25519PrivateKey, x25519PublicKey } from '../../../core/identity/ed25519';
import { IdentityError } from '../../../core/identity/errors';

const message = new TextEncoder().encode('vaultysclaw');

test('RFC 8032 test 1: the raw seed gives the published public key and signature', () => {
  const seed = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
  const key = ed25519PrivateKey(seed);
  const publicKey = rawPublicKey(key);
  assert.equal(Buffer.from(publicKey).toString('hex'), 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
  const signature = ed25519Sign(key, new Uint8Array());
  assert.equal(
    Buffer.from(signature).toString('hex'),
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  );
  assert.equal(ed25519Verify(ed25519PublicKey(publicKey), new Uint8Array(), signature), true);
});

test('a signature verifies for its message and key only; a flipped bit, another message or another key does not', () => {
  const key = ed25519PrivateKey(randomBytes(32));
  const publicKey = ed25519PublicKey(rawPublicKey(key));
  const signature = ed25519Sign(key, message);
  assert.equal(ed25519Verify(publicKey, message, signature), true);
  const flipped = Uint8Array.from(signature);
  flipped[10]! ^= 1;
  assert.equal(ed25519Verify(publicKey, message, flipped), false);
  assert.equal(ed25519Verify(publicKey, message.subarray(1), signature), false);
  assert.equal(ed25519Verify(ed25519PublicKey(rawPublicKey(ed25519PrivateKey(randomBytes(32)))), message, signature), false);
});

test('verify never throws: a truncated, empty or overlong signature is simply not verified', () => {
  const key = ed25519PrivateKey(randomBytes(32));
  const publicKey = ed25519PublicKey(rawPublicKey(key));
  const signature = ed25519Sign(key, message);
  for (const bad of [signature.subarray(0, 63), new Uint8Array(), new Uint8Array([...signature, 0])]) assert.equal(ed25519Verify(publicKey, message, bad), false);
});

test('raw keys of any length but 32 bytes are refused before OpenSSL sees them', () => {
  for (const make of [ed25519PrivateKey, ed25519PublicKey, x25519PrivateKey, x25519PublicKey]) {
    for (const length of [0, 31, 33]) assert.throws(() => make(new Uint8Array(length)), RangeError, `${make.name} ${length}`);
  }
});

test('rawPublicKey refuses a key with no x coordinate, or one that is not 32 bytes', () => {
  assert.throws(() => rawPublicKey(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey), TypeError);
  assert.throws(() => rawPublicKey(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey), RangeError);
});

test('X25519: both sides agree on the same secret from each other’s public key', () => {
  const [a, b] = [x25519PrivateKey(randomBytes(32)), x25519PrivateKey(randomBytes(32))];
  const ab = x25519(a, x25519PublicKey(rawPublicKey(b)));
  const ba = x25519(b, x25519PublicKey(rawPublicKey(a)));
  assert.equal(ab.length, 32);
  assert.deepEqual(ab, ba);
});

test('X25519 with a low-order peer point (a known all-zero secret) is a typed weak-agreement-key error', () => {
  const lowOrder = x25519PublicKey(new Uint8Array(32)); // the point 0
  assert.throws(
    () => x25519(x25519PrivateKey(randomBytes(32)), lowOrder),
    (err: unknown) => err instanceof IdentityError && err.code === 'weak-agreement-key',
  );
});
