import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { secondsOption as seconds } from '../../core/cli/arguments';
import { readKeyFile, VaultysId, type SecretIdentity } from '../../core/identity';
import type { BrokerIdentitySummary } from '../../core/wire/authority';
import type { BrokerInfo } from '../../core/rpc/methods';
import { BROKER_KEY_FILE, loadBrokerIdentity } from '../broker-identity';
import { BrokerClient, BrokerNotRunningError } from '../cli/broker-client';
import { defaultDataDir } from '../config';
import { readAuthority } from './authority-file';
import { certificateOf, recordRotation } from './identity-service';
import { closeBrokerLogger, createBrokerLogger } from '../log';
import { loadLocalOperator } from '../local-operator';
import { createRoot } from './root-setup';
import { adoptNodeIdentity, certifyRotation, CertifiedRotation, importRootSigned, prepareRotation, readJsonFile, RotationRequest, type ImportOutcome } from './rotation';

const YEAR_S = String(365 * 24 * 60 * 60);

/**
 * A running broker on this data directory, connected before any file changes
 * (the local client pins the key in broker.key), or null if none runs: the
 * files are then taken up at its next start.
 */
async function runningBroker(dataDir: string): Promise<BrokerClient | null> {
  try {
    return await BrokerClient.connect(dataDir);
  } catch (err) {
    if (err instanceof BrokerNotRunningError) return null;
    throw err;
  }
}

/**
 * No broker runs to hand its audit log over, and the old key is about to be
 * gone: this command writes the rotation and the old key's hand-over
 * checkpoint itself (the log's writer lock is free), as the host's operator.
 */
function recordStoppedRotation(dataDir: string, from: SecretIdentity): void {
  const log = createBrokerLogger(dataDir, from);
  try {
    recordRotation(log, loadLocalOperator(dataDir).did, from, readKeyFile(join(dataDir, BROKER_KEY_FILE)), readAuthority(dataDir));
  } finally {
    closeBrokerLogger(log);
  }
}

async function takeUp(client: BrokerClient | null): Promise<BrokerInfo | null> {
  if (!client) return null;
  try {
    return await client.call('identityReload', {});
  } finally {
    client.close();
  }
}

function writeNew(file: string, value: unknown): void {
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
}

interface SigningFlags {
  validFor: string;
  grace: string;
  compromised?: boolean;
  reason?: string;
}

/** What the root decides when it certifies a rotation, wherever it signs (rotate --root, or certify). */
function withSigningOptions(command: Command, suffix: string): Command {
  return command
    .option('--valid-for <seconds>', `validity of the new certificate${suffix}`, YEAR_S)
    .option('--grace <seconds>', `how long delegation certificates of the old id stay valid${suffix}`, '3600')
    .option('--compromised', `the old key is compromised: the root revokes it and its delegations get no grace${suffix}`)
    .option('--reason <text>', 'reason recorded in the revocation');
}

function signingOptions(o: SigningFlags): Parameters<typeof certifyRotation>[2] {
  const grace = Number(o.grace);
  if (!Number.isFinite(grace) || grace < 0) throw new Error('--grace must be zero or a positive number of seconds');
  return {
    now: Date.now(),
    validForMs: seconds(o.validFor, '--valid-for'),
    graceMs: Math.round(grace * 1000),
    compromised: o.compromised ? { reason: o.reason ?? 'key compromised' } : null,
  };
}

/** `broker identity …`: what peers pin, the offline root, and rotations of the online id. */
export function addIdentityCommands(program: Command): void {
  const identity = program
    .command('identity')
    // Its own --data-dir must not swallow the subcommands' one (the program enables positional options too).
    .enablePositionalOptions()
    .description("print the broker's DID and fingerprint, and its root if it has one (creating the broker identity if there is none)")
    .option('--data-dir <dir>', 'data directory', defaultDataDir())
    .option('--json', 'print JSON')
    .option('--no-create', 'fail instead of creating an identity')
    .action((o: { dataDir: string; json?: boolean; create: boolean }) => {
      const id = o.create ? loadBrokerIdentity(o.dataDir).identity : readKeyFile(join(o.dataDir, BROKER_KEY_FILE));
      const authority = readAuthority(o.dataDir);
      const root = authority && VaultysId.fromBytes(authority.root);
      const certificate = authority && certificateOf(authority);
      const info: BrokerIdentitySummary = {
        did: id.did,
        fingerprint: id.id.fingerprint,
        root: root ? { did: root.did, fingerprint: root.fingerprint } : null,
        certificate: certificate && { serial: certificate.serial, expiresAt: new Date(certificate.expiresAt).toISOString() },
      };
      if (o.json) return void process.stdout.write(`${JSON.stringify(info)}\n`);
      process.stdout.write(`DID:         ${info.did}\nfingerprint: ${info.fingerprint}\n`);
      if (info.root && info.certificate) {
        process.stdout.write(
          `root:        ${info.root.did}   <- what agents and users pin\n` +
            `root fp:     ${info.root.fingerprint}\ncertificate: serial ${info.certificate.serial}, expires ${info.certificate.expiresAt}\n`,
        );
      }
    });

  identity
    .command('create-root')
    .description('create the offline root that certifies this broker; its key goes to --out, to be moved off this host')
    .requiredOption('--out <file>', 'where to write the root key (0600); not inside the data directory')
    .option('--data-dir <dir>', 'data directory', defaultDataDir())
    .option('--valid-for <seconds>', "how long the root's certificate of this broker is valid", YEAR_S)
    .option('--allow-in-data-dir', 'write the root key inside the data directory anyway (the broker will then refuse to start)')
    .action(async (o: { out: string; dataDir: string; validFor: string; allowInDataDir?: boolean }) => {
      const dataDir = resolve(o.dataDir);
      const client = await runningBroker(dataDir);
      let created;
      try {
        created = createRoot(dataDir, resolve(o.out), { now: Date.now(), validForMs: seconds(o.validFor, '--valid-for'), allowInDataDir: Boolean(o.allowInDataDir) });
      } catch (err) {
        client?.close();
        throw err;
      }
      const info = await takeUp(client);
      process.stdout.write(
        `root DID:    ${created.root.did}\nfingerprint: ${created.root.id.fingerprint}\n` +
          `certifies:   ${created.broker} (serial 1)${info ? ', taken up by the running broker' : ''}\n` +
          `root key:    ${resolve(o.out)}  <- MOVE IT OFF THIS HOST; it is needed only to rotate\n`,
      );
    });

  const rotate = identity
    .command('rotate')
    .description('replace the online broker id with a new one certified by the root; connected agents follow without a restart')
    .option('--data-dir <dir>', 'data directory', defaultDataDir())
    .option('--root <file>', 'the root key, brought back for this command: prepare, certify and take up in one step')
    .option('--request <file>', 'only prepare: write the request for the root to sign elsewhere ("broker identity certify")');
  withSigningOptions(rotate, ' (with --root)')
    .action(async (o: { dataDir: string; root?: string; request?: string } & SigningFlags) => {
      const dataDir = resolve(o.dataDir);
      if (Boolean(o.root) === Boolean(o.request)) throw new Error('give either --root <file> (rotate now) or --request <file> (sign elsewhere)');
      const request = prepareRotation(dataDir);
      if (o.request) {
        writeNew(resolve(o.request), request);
        process.stdout.write(`new broker id ${VaultysId.fromBase64(request.broker).did} is waiting; have the root sign ${resolve(o.request)} with "broker identity certify", then run "broker identity import"\n`);
        return;
      }
      const signed = certifyRotation(readKeyFile(resolve(o.root!)), request, signingOptions(o));
      await importAndReport(dataDir, (dir) => importRootSigned(dir, signed));
    });

  const certify = identity
    .command('certify <request>')
    .description('on the machine that holds the root: sign a rotation request')
    .requiredOption('--root <file>', 'the root key')
    .requiredOption('--out <file>', 'where to write what the root signed (for "broker identity import")');
  withSigningOptions(certify, '')
    .action((file: string, o: { root: string; out: string } & SigningFlags) => {
      const request = readJsonFile(resolve(file), RotationRequest, 'rotation request');
      const signed = certifyRotation(readKeyFile(resolve(o.root)), request, signingOptions(o));
      writeNew(resolve(o.out), signed);
      process.stdout.write(`certified ${VaultysId.fromBase64(request.broker).did} (serial ${request.serial})${o.compromised ? `, revoked ${request.previous.did}` : ''}: ${resolve(o.out)}\n`);
    });

  identity
    .command('import <file>')
    .description('take up what the root signed: a rotation certificate, or revocations to relay to agents')
    .option('--data-dir <dir>', 'data directory', defaultDataDir())
    .option('--revocations-only', "relay the file's revocations without its certificate (on another broker of the same root)")
    .action(async (file: string, o: { dataDir: string; revocationsOnly?: boolean }) => {
      const signed = readJsonFile(resolve(file), CertifiedRotation, 'root-signed file');
      await importAndReport(resolve(o.dataDir), (dataDir) => importRootSigned(dataDir, o.revocationsOnly ? { ...signed, certificate: null } : signed));
    });

  identity
    .command('adopt <dir>')
    .description(
      "on each other node of a cluster, after one node ran rotate or import: take up the broker.key and broker-authority.json it now holds (copied from its data directory to <dir>); a running node switches at once, its connected agents renew their handshake",
    )
    .option('--data-dir <dir>', 'data directory', defaultDataDir())
    .action(async (from: string, o: { dataDir: string }) => {
      await importAndReport(resolve(o.dataDir), (dataDir) => adoptNodeIdentity(dataDir, resolve(from)));
    });
}

/** Changes the identity files with `change`, then has the running broker take them up (or records the hand-over itself). */
async function importAndReport(dataDir: string, change: (dataDir: string) => ImportOutcome): Promise<void> {
  // Connected before the files change: the local client pins the key in broker.key, which the broker still holds.
  const client = await runningBroker(dataDir);
  const before = readKeyFile(join(dataDir, BROKER_KEY_FILE));
  let outcome;
  try {
    outcome = change(dataDir);
  } catch (err) {
    client?.close();
    throw err;
  }
  if (!client && outcome.rotatedTo) recordStoppedRotation(dataDir, before);
  const info = await takeUp(client);
  const what = outcome.rotatedTo ? `broker id is now ${outcome.rotatedTo}` : 'broker id unchanged';
  process.stdout.write(`${what}; ${outcome.revocations} revocation(s) added; ${info ? 'taken up by the running broker, connected agents notified' : 'no broker running: taken up at its next start'}\n`);
}
