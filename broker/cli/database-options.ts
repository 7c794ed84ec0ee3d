import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { withDatabaseCa } from '../store/sql/postgres-url';
import { readOwnerOnlyFile } from './owner-only-file';

/** The `broker start` flags that choose PostgreSQL, as commander hands them over (`--database` may come from VAULTYSCLAW_DATABASE_URL). */
export interface DatabaseFlags {
  database?: string;
  databaseUrlFile?: string;
  databaseCa?: string;
}

/** A postgres:// URL, or the refusal: never quoting it (it may hold the password). */
function checkedUrl(text: string, where: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`${where} is not a URL (postgres://user:password@host:port/database; percent-encode special characters)`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') throw new Error(`${where} must be a postgres:// URL`);
  return text;
}

/**
 * PostgreSQL's URL from `broker start`'s flags (TLS against --database-ca folded in), or undefined for the data
 * directory's SQLite. Every file read and checked before the broker starts.
 */
export function databaseUrlFrom(flags: DatabaseFlags): string | undefined {
  if (flags.database && flags.databaseUrlFile) throw new Error('give the database as --database (or VAULTYSCLAW_DATABASE_URL) or as --database-url-file, not both');
  // From a file others may not read: the password opens every intent's parameters and output, as broker.db does.
  const url = flags.databaseUrlFile
    ? checkedUrl(readOwnerOnlyFile(flags.databaseUrlFile, '--database-url-file'), `the content of --database-url-file ${flags.databaseUrlFile}`)
    : flags.database
      ? checkedUrl(flags.database, '--database')
      : undefined;
  if (!flags.databaseCa) return url;
  if (!url) throw new Error('--database-ca goes with --database or --database-url-file');
  const ca = resolve(flags.databaseCa);
  try {
    readFileSync(ca);
  } catch (err) {
    throw new Error(`--database-ca ${flags.databaseCa}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  return withDatabaseCa(url, ca);
}
