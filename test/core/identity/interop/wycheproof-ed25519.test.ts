// C2SP/wycheproof testvectors_v1/ed25519_test.json (Apache-2.0) through our own verify path:
// ed25519PublicKey + ed25519Verify from core/identity/ed25519.ts, the primitives every VaultysId check uses.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ed25519PublicKey, ed25519Verify } from '../../../../core/identity/ed25519';
import { readVectors, unhex } from '../../../support/interop';
import { once } from './support';

interface EddsaCase {
  tcId: number;
  comment: string;
  flags: string[];
  msg: string;
  sig: string;
  result: 'valid' | 'invalid' | 'acceptable';
}

interface EddsaVectors {
  numberOfTests: number;
  testGroups: { publicKey: { pk: string }; tests: EddsaCase[] }[];
}

interface Outcome {
  tc: EddsaCase;
  verified: boolean;
  /** Key import refused: counts as "not verified". */
  keyRefused: boolean;
  /** An exception from the verify path itself (must never happen). */
  threw?: string;
}

const vectors = readVectors<EddsaVectors>('wycheproof-ed25519.json');

const outcomes = once((): Outcome[] => {
  const out: Outcome[] = [];
  for (const group of vectors.testGroups) {
    let key: ReturnType<typeof ed25519PublicKey> | undefined;
    try {
      key = ed25519PublicKey(unhex(group.publicKey.pk));
    } catch {
      key = undefined;
    }
    for (const tc of group.tests) {
      if (!key) {
        out.push({ tc, verified: false, keyRefused: true });
        continue;
      }
      try {
        out.push({ tc, verified: ed25519Verify(key, unhex(tc.msg), unhex(tc.sig)), keyRefused: false });
      } catch (err) {
        out.push({ tc, verified: false, keyRefused: false, threw: String(err) });
      }
    }
  }
  return out;
});

const describeCase = (o: Outcome) => `tcId ${o.tc.tcId} [${o.tc.flags.join(',')}] ${o.tc.comment}`;

describe('Wycheproof Ed25519 verification', () => {
  test('runs every case through the verify path without an exception', () => {
    const all = outcomes();
    assert.equal(all.length, vectors.numberOfTests);
    assert.ok(all.length > 100, `only ${all.length} cases`);
    assert.deepEqual(all.filter((o) => o.threw).map((o) => `${describeCase(o)}: ${o.threw}`), []);
    // Only a key that belongs to invalid cases alone may fail to import.
    assert.deepEqual(all.filter((o) => o.keyRefused && o.tc.result !== 'invalid').map(describeCase), []);
  });

  test('verifies every valid signature', () => {
    const valid = outcomes().filter((o) => o.tc.result === 'valid');
    assert.ok(valid.length > 50, `only ${valid.length} valid cases`);
    assert.deepEqual(valid.filter((o) => !o.verified).map(describeCase), []);
  });

  const invalidFlags = [...new Set(vectors.testGroups.flatMap((g) => g.tests.filter((t) => t.result === 'invalid').flatMap((t) => t.flags)))].sort();
  for (const flag of invalidFlags) {
    test(`rejects every invalid signature flagged ${flag}`, () => {
      const cases = outcomes().filter((o) => o.tc.result === 'invalid' && o.tc.flags.includes(flag));
      assert.ok(cases.length > 0);
      assert.deepEqual(cases.filter((o) => o.verified).map(describeCase), []);
    });
  }

  test('gives the expected verdict on all cases: valid ⇒ verifies, invalid ⇒ does not', () => {
    const all = outcomes();
    const wrong = all.filter((o) => (o.tc.result === 'valid' && !o.verified) || (o.tc.result === 'invalid' && o.verified));
    assert.deepEqual(wrong.map(describeCase), []);
    const counted = { valid: 0, invalid: 0, acceptable: 0 };
    for (const o of all) counted[o.tc.result]++;
    assert.equal(counted.valid + counted.invalid + counted.acceptable, vectors.numberOfTests);
    assert.ok(counted.invalid > 50, `only ${counted.invalid} invalid cases`);
  });
});
