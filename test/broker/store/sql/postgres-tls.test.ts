// `--database-ca`: TLS to PostgreSQL verified against the operator's CA, on a real server serving a certificate
// that CA issued for 127.0.0.1. A server whose certificate another CA issued (a man in the middle) is refused;
// the URL's own sslmode still decides how the certificate is checked.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import { openPostgresStorage } from '../../../../broker/store/sql/postgres-storage';
import { withDatabaseCa } from '../../../../broker/store/sql/postgres-url';
import { startPostgres, type PostgresServer } from '../../../support/postgres';
import { removeDirs, tempDir } from '../../../support/processes';
import { makeTestPki, type TestPki } from '../../../support/test-pki';

let server: PostgresServer;
let pki: TestPki;
before(async () => {
  pki = makeTestPki(tempDir('pg-tls'));
  server = await startPostgres({ tls: { cert: pki.serverCert, key: pki.serverKey } });
});
after(async () => {
  await server?.stop();
  removeDirs(pki.dir);
});

async function encrypted(url: string): Promise<boolean> {
  const storage = await openPostgresStorage(url, { connectTimeoutMs: 5_000 });
  try {
    const { rows } = await sql<{ ssl: boolean }>`SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`.execute(storage.db);
    return rows[0]!.ssl;
  } finally {
    await storage.close();
  }
}

test('with --database-ca the connection is TLS, verified against that CA (verify-full unless the URL says otherwise)', async () => {
  const url = await server.createDatabase();
  assert.equal(await encrypted(url), false, 'the same server without the CA: plain, so the next line shows the flag turned TLS on');
  assert.match(withDatabaseCa(url, pki.ca), /sslmode=verify-full/);
  assert.equal(await encrypted(withDatabaseCa(url, pki.ca)), true);
  assert.equal(await encrypted(withDatabaseCa(`${url}?sslmode=verify-ca`, pki.ca)), true);
});

test('a server certificate another CA issued is refused, with the server named and the cause', async () => {
  const url = await server.createDatabase();
  await assert.rejects(openPostgresStorage(withDatabaseCa(url, pki.otherCa), { connectTimeoutMs: 5_000 }), (err: Error) => {
    assert.match(err.message, new RegExp(`^PostgreSQL at 127\\.0\\.0\\.1:${server.port}/t\\d+: .*(certificate|verify)`, 'i'));
    return true;
  });
});

test('sslmode in the URL is honoured: verify-full without our CA checks against the system CAs and refuses this server', async () => {
  const url = await server.createDatabase();
  await assert.rejects(openPostgresStorage(`${url}?sslmode=verify-full`, { connectTimeoutMs: 5_000 }), /certificate|verify/i);
});
