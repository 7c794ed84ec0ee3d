// Issue 13, finding 9: SQLite creates a database 0644 less the umask, and its -wal and -shm take the
// database's mode. Both openers must give 0600 files even in a process whose umask is 022 (this test's, and
// that of anything embedding the broker in process), and tighten files an earlier version left open.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openAgentDatabase } from '../../../agent/store/agent-database';
import { openDatabase } from '../../../broker/store/database';
import { ensurePrivateDirectory } from '../../../core/storage/private-files';

const base = mkdtempSync(join(tmpdir(), 'vc-private-files-'));
after(() => rmSync(base, { recursive: true, force: true }));

const modeOf = (path: string) => statSync(path).mode & 0o777;

const OPENERS = [
  { name: 'the broker database', open: openDatabase, write: 'INSERT INTO revocation_list (singleton, version) VALUES (1, 1) ON CONFLICT DO UPDATE SET version = version + 1' },
  { name: 'the agent database', open: openAgentDatabase, write: 'INSERT INTO executed_requests (at) VALUES (1)' },
] as const;

describe('database files are 0600', () => {
  for (const { name, open, write } of OPENERS) {
    test(`${name}: created 0600 with its -wal and -shm under a 022 umask`, () => {
      const previous = process.umask(0o022);
      const path = join(mkdtempSync(join(base, 'db-')), 'state.db');
      try {
        const db = open(path);
        try {
          db.exec(write);
          for (const file of [path, `${path}-wal`, `${path}-shm`]) assert.equal(modeOf(file), 0o600, `${file} is ${modeOf(file).toString(8)}`);
        } finally {
          db.close();
        }
      } finally {
        process.umask(previous);
      }
    });

    test(`${name}: files an earlier version left 0644 are tightened on open`, () => {
      const path = join(mkdtempSync(join(base, 'db-')), 'state.db');
      open(path).close();
      writeFileSync(`${path}-wal`, '');
      for (const file of [path, `${path}-wal`]) chmodSync(file, 0o644);
      const db = open(path);
      try {
        for (const file of [path, `${path}-wal`]) assert.equal(modeOf(file), 0o600, `${file} is ${modeOf(file).toString(8)}`);
      } finally {
        db.close();
      }
    });
  }
});

describe('ensurePrivateDirectory', () => {
  test('creates a missing directory 0700, parents included', () => {
    const dir = join(base, 'new', 'data');
    ensurePrivateDirectory(dir, 'data directory');
    assert.equal(modeOf(dir), 0o700);
  });

  test('refuses an existing directory any other user can reach, with the chmod that fixes it', () => {
    const dir = mkdtempSync(join(base, 'shared-'));
    for (const mode of [0o755, 0o750, 0o705, 0o701, 0o720]) {
      chmodSync(dir, mode);
      assert.throws(() => ensurePrivateDirectory(dir, 'data directory'), { message: `the data directory ${dir} is open to other users (mode ${mode.toString(8)}); run: chmod 700 ${dir}` });
    }
    chmodSync(dir, 0o700);
    ensurePrivateDirectory(dir, 'data directory');
  });
});
