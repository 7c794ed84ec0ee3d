import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { storageFailure } from '../../../core/storage/storage-failure';
import { removeDirs, tempDir } from '../../support/processes';

const thrown = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
};

test('a real full disk (/dev/full) reads as one clear sentence with its code', () => {
  assert.equal(storageFailure(thrown(() => writeFileSync('/dev/full', 'x'))), 'the disk is full (ENOSPC)');
});

test('a database that cannot be opened, or is read-only, reads as "cannot be written", with SQLite’s own message and code', () => {
  // Under /dev/null: a "directory" that is a device, which SQLite cannot open even as root.
  assert.equal(storageFailure(thrown(() => new Database('/dev/null/broker.db'))), 'the database cannot be written: unable to open database file (SQLITE_CANTOPEN)');
  const dir = tempDir('storage-failure');
  after(() => removeDirs(dir));
  const writable = new Database(join(dir, 'a.db'));
  writable.exec('CREATE TABLE t (a INTEGER)');
  writable.close();
  const readOnly = new Database(join(dir, 'a.db'), { readonly: true });
  after(() => readOnly.close());
  assert.equal(storageFailure(thrown(() => readOnly.exec('INSERT INTO t VALUES (1)'))), 'the database cannot be written: attempt to write a readonly database (SQLITE_READONLY)');
});

test('every code that means "the disk said no" is named; SQLITE_FULL is a full disk', () => {
  const named = (code: string) => storageFailure(Object.assign(new Error('m'), { code }));
  assert.equal(named('EDQUOT'), 'the disk quota is exhausted (EDQUOT)');
  assert.equal(named('EFBIG'), 'a file reached its size limit (EFBIG)');
  assert.equal(named('EROFS'), 'the file system is read-only (EROFS)');
  assert.equal(named('EACCES'), 'permission denied (EACCES)');
  assert.equal(named('EPERM'), 'operation not permitted (EPERM)');
  assert.equal(named('SQLITE_FULL'), 'the disk is full (SQLITE_FULL)');
  for (const code of ['SQLITE_IOERR_WRITE', 'SQLITE_READONLY', 'SQLITE_PERM']) assert.equal(named(code), `the database cannot be written: m (${code})`);
});

test('anything else is not a storage failure: other errors, other codes, no code, not an error at all', () => {
  assert.equal(storageFailure(thrown(() => writeFileSync('/nonexistent-dir/x', 'x'))), undefined, 'ENOENT');
  for (const err of [new Error('x'), Object.assign(new Error('x'), { code: 'SQLITE_CONSTRAINT' }), Object.assign(new Error('x'), { code: 42 }), null, undefined, 'ENOSPC']) {
    assert.equal(storageFailure(err), undefined, String(err));
  }
});
