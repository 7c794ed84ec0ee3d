import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  IdType,
  IdentityError,
  SecretIdentity,
  loadOrCreateKeyFile,
  readKeyFile,
  writeKeyFile,
  type IdentityErrorCode,
} from '../../../core/identity';
import { concatBytes } from './support/handshake';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vaultysclaw-key-file-'));
  dirs.push(dir);
  return dir;
}

/** A file with exactly this content and mode (chmod after writing, so the umask cannot interfere). */
function plantFile(path: string, content: string, mode = 0o600): void {
  writeFileSync(path, content);
  chmodSync(path, mode);
}

function secretRenderings(identity: SecretIdentity): string[] {
  const secret = Buffer.from(identity.exportSecret());
  return [secret.toString('base64'), secret.toString('hex'), secret.subarray(9, 41).toString('hex'), secret.subarray(9, 41).toString('base64')];
}

/** Runs a call that must fail with an IdentityError, and returns it. */
function identityErrorOf(call: () => unknown): IdentityError {
  try {
    call();
  } catch (err) {
    assert.ok(err instanceof IdentityError, `expected an IdentityError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected an IdentityError, but the call succeeded');
}

function expectCode(call: () => unknown, code: IdentityErrorCode): IdentityError {
  const err = identityErrorOf(call);
  assert.equal(err.code, code, err.message);
  return err;
}

describe('writing a key file', () => {
  test('a new key file has mode 0600, holds the base64 secret, reloads to the same DID, and leaves no temp file', () => {
    const dir = tempDir();
    const path = join(dir, 'agent.key');
    const identity = SecretIdentity.generate(IdType.Machine);
    writeKeyFile(path, identity);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(readFileSync(path, 'utf8').trim(), Buffer.from(identity.exportSecret()).toString('base64'));
    const reloaded = readKeyFile(path);
    assert.equal(reloaded.did, identity.did);
    assert.ok(reloaded.id.equals(identity.id));
    assert.deepEqual(readdirSync(dir), ['agent.key']);
  });

  test('an existing key file is never overwritten: key-file-exists, the original intact, no temp file left', () => {
    const dir = tempDir();
    const path = join(dir, 'agent.key');
    const original = SecretIdentity.generate(IdType.Machine);
    writeKeyFile(path, original);
    const before = readFileSync(path);
    const intruder = SecretIdentity.generate(IdType.Person);
    const err = expectCode(() => writeKeyFile(path, intruder), 'key-file-exists');
    assert.deepEqual(readFileSync(path), before);
    assert.equal(readKeyFile(path).did, original.did);
    assert.deepEqual(readdirSync(dir), ['agent.key']);
    for (const s of [...secretRenderings(original), ...secretRenderings(intruder)]) assert.ok(!err.message.includes(s));
  });

  test('overwrite: true replaces the key atomically, still 0600, with no temp file left', () => {
    const dir = tempDir();
    const path = join(dir, 'agent.key');
    writeKeyFile(path, SecretIdentity.generate(IdType.Machine));
    const replacement = SecretIdentity.generate(IdType.Organization);
    writeKeyFile(path, replacement, { overwrite: true });
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(readKeyFile(path).did, replacement.did);
    assert.deepEqual(readdirSync(dir), ['agent.key']);
  });
});

describe('reading a key file', () => {
  for (const mode of [0o644, 0o640, 0o604, 0o660, 0o601]) {
    test(`a key file with mode ${mode.toString(8)} is refused with key-file-permissions, without the secret in the message`, () => {
      const dir = tempDir();
      const path = join(dir, 'agent.key');
      const identity = SecretIdentity.generate(IdType.Machine);
      writeKeyFile(path, identity);
      chmodSync(path, mode);
      const err = expectCode(() => readKeyFile(path), 'key-file-permissions');
      for (const s of secretRenderings(identity)) assert.ok(!err.message.includes(s));
    });
  }

  test('a key file readable by its owner only (0400) is accepted', () => {
    const dir = tempDir();
    const path = join(dir, 'agent.key');
    const identity = SecretIdentity.generate(IdType.Person);
    writeKeyFile(path, identity);
    chmodSync(path, 0o400);
    assert.equal(readKeyFile(path).did, identity.did);
  });

  test('a missing key file is refused with key-file-missing', () => {
    expectCode(() => readKeyFile(join(tempDir(), 'absent.key')), 'key-file-missing');
  });

  test('a directory (even one only its owner can enter) is refused with key-file-unreadable', () => {
    const path = join(tempDir(), 'agent.key');
    mkdirSync(path);
    chmodSync(path, 0o700);
    expectCode(() => readKeyFile(path), 'key-file-unreadable');
  });

  test('a path through a regular file is refused with key-file-unreadable', () => {
    const file = join(tempDir(), 'not-a-dir');
    plantFile(file, 'x');
    expectCode(() => readKeyFile(join(file, 'agent.key')), 'key-file-unreadable');
  });

  describe('malformed content is refused with key-file-malformed, never echoing the key', () => {
    const identity = SecretIdentity.generate(IdType.Machine);
    const secret = identity.exportSecret();
    const v0 = new Uint8Array(secret);
    v0[4] = 0;
    const fido2 = new Uint8Array(secret);
    fido2[0] = 3;
    const cases: [string, string][] = [
      ['an empty file', ''],
      ['text that is not base64', 'this is not base64!'],
      ['hex instead of base64', `${Buffer.from(secret).toString('hex')}*`],
      ['76 bytes', Buffer.from(secret.subarray(0, 76)).toString('base64')],
      ['78 bytes', Buffer.from(concatBytes(secret, [0])).toString('base64')],
      ['a v0 secret', Buffer.from(v0).toString('base64')],
      ['a FIDO2 (type 3) secret', Buffer.from(fido2).toString('base64')],
      ['two secrets on two lines', `${Buffer.from(secret).toString('base64')}\n${Buffer.from(secret).toString('base64')}`],
    ];
    for (const [name, content] of cases) {
      test(`${name}`, () => {
        const path = join(tempDir(), 'agent.key');
        plantFile(path, content);
        const err = expectCode(() => readKeyFile(path), 'key-file-malformed');
        for (const s of secretRenderings(identity)) assert.ok(!err.message.includes(s), 'the message names the key');
        assert.ok(!err.message.includes(Buffer.from(v0).toString('base64')));
      });
    }
  });

  test('a secret followed by a newline (as written) or surrounded by spaces is read', () => {
    const identity = SecretIdentity.generate(IdType.Organization);
    const path = join(tempDir(), 'agent.key');
    plantFile(path, `  ${Buffer.from(identity.exportSecret()).toString('base64')}\n\n`);
    assert.equal(readKeyFile(path).did, identity.did);
  });
});

describe('loadOrCreateKeyFile', () => {
  test('creates a key file of the given type once, then loads the same id', () => {
    const dir = tempDir();
    const path = join(dir, 'broker.key');
    const first = loadOrCreateKeyFile(path, IdType.Machine);
    assert.equal(first.created, true);
    assert.equal(first.identity.id.type, IdType.Machine);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const second = loadOrCreateKeyFile(path, IdType.Person);
    assert.equal(second.created, false);
    assert.equal(second.identity.did, first.identity.did);
    assert.equal(second.identity.id.type, IdType.Machine, 'the type argument only applies to a new file');
    assert.deepEqual(readdirSync(dir), ['broker.key']);
  });

  test('an existing key file with loose permissions is refused, not replaced', () => {
    const dir = tempDir();
    const path = join(dir, 'broker.key');
    const identity = SecretIdentity.generate(IdType.Machine);
    writeKeyFile(path, identity);
    chmodSync(path, 0o644);
    const before = readFileSync(path);
    expectCode(() => loadOrCreateKeyFile(path, IdType.Machine), 'key-file-permissions');
    assert.deepEqual(readFileSync(path), before);
    assert.deepEqual(readdirSync(dir), ['broker.key']);
  });

  test('an existing malformed key file is refused, not replaced by a fresh id', () => {
    const dir = tempDir();
    const path = join(dir, 'broker.key');
    plantFile(path, 'garbage');
    expectCode(() => loadOrCreateKeyFile(path, IdType.Machine), 'key-file-malformed');
    assert.equal(readFileSync(path, 'utf8'), 'garbage');
    assert.deepEqual(readdirSync(dir), ['broker.key']);
  });
});
