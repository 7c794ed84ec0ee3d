import Database from 'better-sqlite3';
import { makeDatabaseFilesPrivate } from './private-files';
import { refuseNewerSchema, type SchemaOwner } from './schema-version';

export type SqliteDatabase = Database.Database;

/** What a program's database is and how its schema came to be. */
export interface SqliteSchema extends SchemaOwner {
  /** Applied in order; `user_version` records how many have run. */
  migrations: readonly string[];
}

/**
 * The one way broker and agent open their database. WAL with synchronous=FULL: a commit is on disk when it
 * returns. Its files are 0600: they hold every intent's parameters and output. A database that cannot be
 * brought to this schema (a failed migration, a newer program's file) is closed before the error leaves:
 * a handle left open would hold the file, its -wal and -shm for the life of the process that retries or
 * reports, and keep another opener from migrating it.
 */
export function openSqliteDatabase(path: string, schema: SqliteSchema): SqliteDatabase {
  makeDatabaseFilesPrivate(path);
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    migrate(db, schema);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

function migrate(db: SqliteDatabase, { migrations, ...owner }: SqliteSchema): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  refuseNewerSchema(current, migrations.length, owner);
  db.transaction(() => {
    for (let i = current; i < migrations.length; i++) db.exec(migrations[i]!);
    db.pragma(`user_version = ${migrations.length}`);
  })();
}
