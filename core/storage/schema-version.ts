/** Names a database in refusals: 'database' … 'broker' reads "database schema version 9 is newer than this broker". */
export interface SchemaOwner {
  what: string;
  program: string;
}

/**
 * Refuses a database a newer program has migrated past what this one knows: running on it would read and write
 * columns and rows with meanings this program does not have. The operator is told which way to go.
 */
export function refuseNewerSchema(current: number, known: number, { what, program }: SchemaOwner): void {
  if (current > known) throw new Error(`${what} schema version ${current} is newer than this ${program} (${known}); upgrade the ${program}`);
}
