/**
 * What we may say about a PostgreSQL URL. The URL may hold the password (postgres://user:password@host/db), and
 * what the broker says ends up in logs, audit lines, error answers and on screens: only host, port and database.
 */

/** Where `url` points: `PostgreSQL at host:port/db`. */
export function postgresPlace(url: string): string {
  try {
    const { hostname, port, pathname } = new URL(url);
    return `PostgreSQL at ${hostname}:${port || '5432'}${pathname}`;
  } catch {
    return 'PostgreSQL (the URL does not parse: percent-encode the special characters of its user name and password)';
  }
}

/** `message` with every spelling of the URL's password (and an unparsable URL whole) replaced. */
export function withoutPassword(message: string, url: string): string {
  let password = '';
  try {
    password = new URL(url).password;
  } catch {
    return message.split(url).join('<url>');
  }
  if (!password) return message;
  let out = message;
  const spellings = new Set([password]);
  try {
    spellings.add(decodeURIComponent(password));
  } catch {
    // A malformed escape: the raw spelling is the only one a client could echo.
  }
  for (const spelling of spellings) out = out.split(spelling).join('***');
  return out;
}

/** sslmode values that never check the server's certificate: a CA given with them would be silently unused. */
const UNVERIFIED_MODES = new Set(['disable', 'allow', 'no-verify']);

/**
 * `url` with TLS verified against the CA certificates in the PEM file `caFile` (`--database-ca`): the file is
 * pg's sslrootcert, so the URL's own sslmode still decides how (verify-full when it names none: the server's
 * name is checked too). A mode that would not verify is refused rather than ignored.
 */
export function withDatabaseCa(url: string, caFile: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error('the database URL does not parse: percent-encode the special characters of its user name and password');
  }
  const mode = parsed.searchParams.get('sslmode');
  if (mode && UNVERIFIED_MODES.has(mode)) throw new Error(`--database-ca goes with a verifying sslmode, not sslmode=${mode}`);
  if (parsed.searchParams.has('sslrootcert')) throw new Error('give the CA either as --database-ca or as sslrootcert in the URL, not both');
  parsed.searchParams.set('sslrootcert', caFile);
  if (!mode) parsed.searchParams.set('sslmode', 'verify-full');
  return parsed.toString();
}
