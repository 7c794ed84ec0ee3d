// A team member's CLI refuses plain ws:// to a remote broker before it opens any connection: the user
// handshake and every request would otherwise cross the network readable by anyone on the path.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { IdType, SecretIdentity } from '../../../core/identity';
import { ROOT, removeDirs, tempDir } from '../../support/processes';

const dir = tempDir('plain-ws');
after(() => removeDirs(dir));
const broker = join(ROOT, 'dist', 'broker.js');
const cli = (...args: string[]) => spawnSync(process.execPath, [broker, ...args], { encoding: 'utf8', timeout: 20_000 });

test('the user CLI refuses --url ws:// to a non-loopback host, in a list too, and only that', () => {
  const key = join(dir, 'user.key');
  assert.equal(cli('keygen', key).status, 0);
  const pin = SecretIdentity.generate(IdType.Machine).did;

  const remote = cli('agents', '--key', key, '--url', 'ws://192.0.2.1:8080', '--broker-did', pin);
  assert.equal(remote.status, 1);
  assert.match(remote.stderr, /refusing plain ws:\/\/ to 192\.0\.2\.1, which is not a loopback address: use wss:\/\/, or pass --allow-plain-ws/);

  // Every node of a cluster's list is checked, not only the first one tried.
  const inList = cli('agents', '--key', key, '--url', 'ws://127.0.0.1:1,ws://192.0.2.1:8080', '--broker-did', pin);
  assert.equal(inList.status, 1);
  assert.match(inList.stderr, /refusing plain ws:\/\/ to 192\.0\.2\.1/);

  // Loopback passes the check and fails only for want of a broker there (port 1 is closed).
  const loopback = cli('agents', '--key', key, '--url', 'ws://127.0.0.1:1', '--broker-did', pin);
  assert.equal(loopback.status, 1);
  assert.doesNotMatch(loopback.stderr, /refusing plain ws/);
  assert.match(loopback.stderr, /ECONNREFUSED|connect|refused/i);
});
