import { sql } from 'kysely';
import type { Storage } from '../../../../../broker/store/sql/storage';
import { PAGED_TABLES } from '../../../../../broker/store/sql/tables';

export interface Shape {
  /** table → column → "type null|not null default|-" */
  columns: Record<string, Record<string, string>>;
  /** "table name(columns) unique? partial?", the primary key named PRIMARY KEY */
  indexes: string[];
  /** "table.column → table.column" */
  foreignKeys: string[];
}

/** SQLite's STRICT types under PostgreSQL's names. */
const TYPES: Record<string, string> = { TEXT: 'text', INTEGER: 'int8', BLOB: 'bytea' };

/** What a schema is, as each engine describes it, in one vocabulary; PostgreSQL's bookkeeping left out. */
export async function schemaShape(storage: Storage): Promise<Shape> {
  const tables = (await storage.db.introspection.getTables()).filter((t) => t.name !== 'schema_migrations');
  const columns: Shape['columns'] = {};
  for (const table of tables) {
    columns[table.name] = Object.fromEntries(
      table.columns.map((c) => [c.name, `${TYPES[c.dataType] ?? c.dataType} ${c.isNullable ? 'null' : 'not null'} ${c.hasDefaultValue ? 'default' : '-'}`]),
    );
  }
  if (storage.dialect === 'sqlite') {
    // A STRICT table's PRIMARY KEY refuses NULL (an INTEGER one is the rowid itself), whatever table_info says of it.
    for (const table of Object.keys(columns)) {
      const pk = await sql<{ name: string }>`SELECT name FROM pragma_table_info(${table}) WHERE pk > 0`.execute(storage.db);
      for (const { name } of pk.rows) columns[table]![name] = columns[table]![name]!.replace(/^(\S+) null /, '$1 not null ');
    }
  }
  const described = storage.dialect === 'sqlite' ? await sqliteKeys(storage) : await postgresKeys(storage);
  return { columns, ...described };
}

const index = (table: string, name: string, columns: string[], unique: boolean, partial: boolean): string =>
  `${table} ${name}(${columns.join(',')})${unique ? ' unique' : ''}${partial ? ' partial' : ''}`;

async function sqliteKeys({ db }: Storage): Promise<Omit<Shape, 'columns'>> {
  const indexes: string[] = [];
  const tables = await sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table'`.execute(db);
  for (const { name: table } of tables.rows) {
    const pk = await sql<{ name: string }>`SELECT name FROM pragma_table_info(${table}) WHERE pk > 0 ORDER BY pk`.execute(db);
    if (pk.rows.length > 0) indexes.push(index(table, 'PRIMARY KEY', pk.rows.map((r) => r.name), true, false));
    const list = await sql<{ name: string; unique: number; partial: number }>`SELECT name, "unique", partial FROM pragma_index_list(${table}) WHERE origin = 'c'`.execute(db);
    for (const i of list.rows) {
      const cols = await sql<{ name: string }>`SELECT name FROM pragma_index_info(${i.name}) ORDER BY seqno`.execute(db);
      indexes.push(index(table, i.name, cols.rows.map((r) => r.name), i.unique === 1, i.partial === 1));
    }
  }
  const fks = await sql<{ fk: string }>`
    SELECT m.name || '.' || f."from" || ' → ' || f."table" || '.' || f."to" AS fk
    FROM sqlite_master m, pragma_foreign_key_list(m.name) f WHERE m.type = 'table'`.execute(db);
  return { indexes: indexes.sort(), foreignKeys: fks.rows.map((r) => r.fk).sort() };
}

async function postgresKeys({ db }: Storage): Promise<Omit<Shape, 'columns'>> {
  const list = await sql<{ table: string; name: string; columns: string[]; unique: boolean; primary: boolean; partial: boolean }>`
    SELECT t.relname AS table, i.relname AS name, x.indisunique AS unique, x.indisprimary AS primary, x.indpred IS NOT NULL AS partial,
      ARRAY(SELECT a.attname::text FROM unnest(x.indkey) WITH ORDINALITY k(attnum, n)
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.n) AS columns
    FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
    JOIN pg_namespace s ON s.oid = t.relnamespace
    WHERE s.nspname = 'public' AND t.relname <> 'schema_migrations'`.execute(db);
  const paged: readonly string[] = PAGED_TABLES;
  const indexes = list.rows.map((i) => {
    // SQLite's indexes carry the rowid without naming it; PostgreSQL's paged-table indexes name it last.
    const columns = paged.includes(i.table) && i.columns.length > 1 && i.columns.at(-1) === 'rowid' ? i.columns.slice(0, -1) : i.columns;
    return index(i.table, i.primary ? 'PRIMARY KEY' : i.name, columns, i.unique, i.partial);
  });
  const fks = await sql<{ fk: string }>`
    SELECT c.conrelid::regclass::text || '.' || a.attname || ' → ' || c.confrelid::regclass::text || '.' || af.attname AS fk
    FROM pg_constraint c
    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
    JOIN pg_attribute af ON af.attrelid = c.confrelid AND af.attnum = c.confkey[1]
    WHERE c.contype = 'f'`.execute(db);
  return { indexes: indexes.sort(), foreignKeys: fks.rows.map((r) => r.fk).sort() };
}
