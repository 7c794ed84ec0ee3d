import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdentityError } from '../../../core/identity/errors';
import { VaultysId } from '../../../core/identity/vaultys-id';

test('an IdentityError is an Error named for what it is, carrying its code beside the message', () => {
  const err = new IdentityError('key-file-permissions', 'key file is readable by others');
  assert.ok(err instanceof Error);
  assert.ok(err instanceof IdentityError);
  assert.equal(err.name, 'IdentityError');
  assert.equal(err.code, 'key-file-permissions');
  assert.equal(err.message, 'key file is readable by others');
  assert.match(String(err), /^IdentityError: key file is readable by others$/);
});

test('a refused id reaches its caller as an IdentityError whose code says why', () => {
  assert.throws(
    () => VaultysId.fromBytes(new Uint8Array(0)),
    (err: unknown) => err instanceof IdentityError && err.code === 'malformed-id',
  );
});
