// C2SP/wycheproof testvectors_v1/x25519_test.json (Apache-2.0) through x25519PrivateKey, x25519PublicKey and x25519
// from core/identity/ed25519.ts (SecretIdentity.sharedSecret uses them). node/OpenSSL refuses an all-zero output,
// the RFC 7748 §6.1 check, and x25519 reports it as IdentityError 'weak-agreement-key': for low-order public keys
// that is the safe behaviour, so a refusal is accepted exactly where the expected shared secret is all zeros.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { x25519, x25519PrivateKey, x25519PublicKey } from '../../../../core/identity/ed25519';
import { IdentityError } from '../../../../core/identity/errors';
import { hex, readVectors, unhex } from '../../../support/interop';
import { once } from './support';

interface XdhCase {
  tcId: number;
  comment: string;
  flags: string[];
  public: string;
  private: string;
  shared: string;
  result: 'valid' | 'acceptable' | 'invalid';
}

interface XdhVectors {
  numberOfTests: number;
  testGroups: { curve: string; tests: XdhCase[] }[];
}

type Outcome = { tc: XdhCase; shared: string } | { tc: XdhCase; refused: unknown };

const vectors = readVectors<XdhVectors>('wycheproof-x25519.json');
const cases = vectors.testGroups.flatMap((g) => {
  assert.equal(g.curve, 'curve25519');
  return g.tests;
});

const outcomes = once((): Outcome[] =>
  cases.map((tc) => {
    try {
      return { tc, shared: hex(x25519(x25519PrivateKey(unhex(tc.private)), x25519PublicKey(unhex(tc.public)))) };
    } catch (refused) {
      return { tc, refused };
    }
  }),
);

const isAllZero = (hexText: string) => /^(?:00)+$/.test(hexText);
const describeCase = ({ tc }: Outcome) => `tcId ${tc.tcId} [${tc.flags.join(',')}] ${tc.comment}`;
const computed = (o: Outcome): o is { tc: XdhCase; shared: string } => 'shared' in o;

describe('Wycheproof X25519 key agreement', () => {
  test('runs every case and computes a shared secret for nearly all of them', () => {
    const all = outcomes();
    assert.equal(all.length, vectors.numberOfTests);
    assert.ok(all.length > 500, `only ${all.length} cases`);
    const ran = all.filter(computed).length;
    assert.ok(ran >= all.length * 0.9, `only ${ran} of ${all.length} cases computed a shared secret`);
  });

  test('computes the expected shared secret for every valid case', () => {
    const valid = outcomes().filter((o) => o.tc.result === 'valid');
    assert.ok(valid.length > 200, `only ${valid.length} valid cases`);
    assert.deepEqual(valid.filter((o) => !computed(o) || o.shared !== o.tc.shared).map(describeCase), []);
  });

  test('acceptable cases (twist, non-canonical and low-order keys) give the expected secret or a refusal for an all-zero one', () => {
    const acceptable = outcomes().filter((o) => o.tc.result === 'acceptable');
    assert.ok(acceptable.length > 200, `only ${acceptable.length} acceptable cases`);
    const wrong = acceptable.filter((o) => (computed(o) ? o.shared !== o.tc.shared : !isAllZero(o.tc.shared)));
    assert.deepEqual(wrong.map(describeCase), []);
  });

  test('never returns an all-zero shared secret: every such case is refused as a weak agreement key', () => {
    const zero = outcomes().filter((o) => isAllZero(o.tc.shared));
    assert.ok(zero.length > 0);
    assert.deepEqual(zero.filter(computed).map(describeCase), []);
    for (const o of zero) {
      assert.ok(!computed(o) && o.refused instanceof IdentityError && o.refused.code === 'weak-agreement-key', `${describeCase(o)}: refused with ${String(!computed(o) && o.refused)}`);
      assert.ok(o.tc.flags.includes('ZeroSharedSecret'), describeCase(o));
    }
  });

  test('refuses every invalid case and refuses nothing with a non-zero expected secret', () => {
    const all = outcomes();
    assert.deepEqual(all.filter((o) => o.tc.result === 'invalid' && computed(o)).map(describeCase), []);
    assert.deepEqual(all.filter((o) => !computed(o) && o.tc.result !== 'invalid' && !isAllZero(o.tc.shared)).map(describeCase), []);
  });
});
