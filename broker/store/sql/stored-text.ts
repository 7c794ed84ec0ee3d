/**
 * Refuses text holding NUL (U+0000) before it reaches the database. PostgreSQL's TEXT cannot hold it (the query
 * fails with an encoding error) where SQLite's stores it: without this the two backends would differ, and a peer
 * could make a PostgreSQL write fail halfway. The edges (the agent's hello, RPC params) refuse it first and tell
 * the peer; this keeps every other path the same on both backends.
 */
export function nulFree(what: string, text: string): string {
  if (text.includes('\u0000')) throw new Error(`${what} contains a NUL character, which the broker does not store`);
  return text;
}

/**
 * Text a peer controls (an agent's result message, a reason) as a TEXT column can hold it on both backends:
 * PostgreSQL refuses U+0000 in TEXT (the whole statement fails, and with it the frame that carried the text)
 * where SQLite stores it. Each NUL becomes U+FFFD on both, so a view reads the same whichever backend wrote it;
 * where the text came signed, the signed envelope (BYTEA) keeps the original bytes.
 */
export function storableText(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text;
}
