import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Files of a throwaway PKI in `dir`: a CA, a server certificate it issued for 127.0.0.1, and another CA that issued nothing. */
export interface TestPki {
  dir: string;
  ca: string;
  caKey: string;
  otherCa: string;
  otherCaKey: string;
  serverCert: string;
  serverKey: string;
}

/** Made by Debian's openssl (P-256, two days), for the TLS listeners and clients that tests start on loopback. */
export function makeTestPki(dir: string): TestPki {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const makeCa = (name: string) =>
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`);
  makeCa('ca');
  makeCa('other-ca');
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'san.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.cnf');
  const at = (file: string) => join(dir, file);
  return { dir, ca: at('ca.pem'), caKey: at('ca.key'), otherCa: at('other-ca.pem'), otherCaKey: at('other-ca.key'), serverCert: at('server.pem'), serverKey: at('server.key') };
}
