// `broker identity adopt` (issue 20): another node of a cluster takes up the id and chain one node rotated to, and
// nothing else: not an older chain (a roll-back to a replaced id), not a fork at the same serial, not another
// root's chain, not a key the chain does not certify. In-process, on real data directories in temp dirs.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { BROKER_KEY_FILE, loadBrokerIdentity } from '../../../broker/broker-identity';
import { AUTHORITY_FILE, readAuthority } from '../../../broker/identity/authority-file';
import { createRoot } from '../../../broker/identity/root-setup';
import { adoptNodeIdentity, certifyRotation, importRootSigned, prepareRotation } from '../../../broker/identity/rotation';
import { IdType, readKeyFile, SecretIdentity, writeKeyFile } from '../../../core/identity';

const base = mkdtempSync(join(tmpdir(), 'vc-adopt-'));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
const dir = () => {
  const d = join(base, String(n++));
  mkdirSync(d, { mode: 0o700 });
  return d;
};
const copyNode = (from: string, files = [BROKER_KEY_FILE, AUTHORITY_FILE]) => {
  const to = dir();
  for (const f of files) copyFileSync(join(from, f), join(to, f));
  return to;
};
const HOUR = 3_600_000;

/** Node A under a fresh root, with B a copy of it (the cluster as provisioned), and the root's key. */
function cluster() {
  const a = dir();
  const rootKey = join(dir(), 'root.key');
  createRoot(a, rootKey, { now: Date.now(), validForMs: HOUR, allowInDataDir: false });
  return { a, b: copyNode(a), rootKey };
}

function rotate(dataDir: string, rootKey: string, compromised = false) {
  const signed = certifyRotation(readKeyFile(rootKey), prepareRotation(dataDir), { now: Date.now(), validForMs: HOUR, graceMs: 0, compromised: compromised ? { reason: 'test' } : null });
  return importRootSigned(dataDir, signed);
}

describe('broker identity adopt', () => {
  test("node B takes up the id and chain node A rotated to, revocation included; adopting again changes nothing", () => {
    const { a, b, rootKey } = cluster();
    const before = copyNode(b);
    const { rotatedTo } = rotate(a, rootKey, true);
    assert.deepEqual(adoptNodeIdentity(b, a), { rotatedTo, revocations: 1 });
    assert.equal(readKeyFile(join(b, BROKER_KEY_FILE)).did, rotatedTo);
    assert.equal(readAuthority(b)!.revocations.length, 1);
    assert.deepEqual(adoptNodeIdentity(b, a), { rotatedTo: null, revocations: 0 });
    // The node's previous files, adopted back, would be a roll-back to the revoked id.
    assert.throws(() => adoptNodeIdentity(b, before), /holds certificate serial 1 .* this node already holds serial 2/);
    assert.equal(readKeyFile(join(b, BROKER_KEY_FILE)).did, rotatedTo);
  });

  test('a fork: B rotated on its own to another serial-2 id; neither adopts the other', () => {
    const { a, b, rootKey } = cluster();
    rotate(a, rootKey);
    const own = rotate(b, rootKey).rotatedTo;
    assert.throws(() => adoptNodeIdentity(b, a), /serial 2 for .* this node already holds serial 2/);
    assert.equal(readKeyFile(join(b, BROKER_KEY_FILE)).did, own);
  });

  test("another root's chain, and a key the chain does not certify, are refused and nothing is written", () => {
    const { a, b, rootKey } = cluster();
    const other = cluster().a;
    const held = readKeyFile(join(b, BROKER_KEY_FILE)).did;
    assert.throws(() => adoptNodeIdentity(b, other), /is under root .* not this node's root/);
    rotate(a, rootKey);
    const mismatched = copyNode(a, [AUTHORITY_FILE]);
    writeKeyFile(join(mismatched, BROKER_KEY_FILE), SecretIdentity.generate(IdType.Machine));
    assert.throws(() => adoptNodeIdentity(b, mismatched), /certifies another id than its broker.key/);
    assert.equal(readKeyFile(join(b, BROKER_KEY_FILE)).did, held);
    assert.equal(loadBrokerIdentity(b).authority!.revocations.length, 0);
  });
});
