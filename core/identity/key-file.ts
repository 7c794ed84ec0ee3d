import { randomBytes } from 'node:crypto';
import { closeSync, constants, fsyncSync, linkSync, openSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { IdentityError } from './errors';
import { IdType, SecretIdentity } from './vaultys-id';

/**
 * A key file holds base64 of the 77-byte secret (as upstream VaultysClaw does),
 * readable by its owner only. It is written atomically: a crash mid-write
 * leaves either the old file or the new one, never half a key.
 */
export function writeKeyFile(path: string, identity: SecretIdentity, options: { overwrite?: boolean } = {}): void {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number;
  try {
    fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (err) {
    throw new IdentityError('key-file-unwritable', `cannot write a key file in ${dir}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  try {
    writeSync(fd, `${Buffer.from(identity.exportSecret()).toString('base64')}\n`);
    fsyncSync(fd);
  } catch (err) {
    rmSync(temp, { force: true });
    throw new IdentityError('key-file-unwritable', `cannot write key file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  } finally {
    closeSync(fd);
  }
  try {
    if (options.overwrite) {
      renameSync(temp, path);
    } else {
      // link() fails if the target exists, atomically: two processes racing to create an id cannot both win.
      linkSync(temp, path);
      unlinkSync(temp);
    }
  } catch (err) {
    rmSync(temp, { force: true });
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new IdentityError('key-file-exists', `refusing to overwrite the existing key file ${path}`);
    }
    throw new IdentityError('key-file-unwritable', `cannot write key file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  syncDirectory(dir);
}

export function readKeyFile(path: string): SecretIdentity {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new IdentityError('key-file-missing', `key file ${path} does not exist`);
    throw new IdentityError('key-file-unreadable', `cannot read key file ${path}: ${code ?? 'error'}`);
  }
  // Refuse rather than silently use a key others could have read (or replaced).
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new IdentityError(
      'key-file-permissions',
      `key file ${path} is accessible by group or others (mode ${(mode & 0o777).toString(8)}); run chmod 600 on it`,
    );
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new IdentityError('key-file-unreadable', `cannot read key file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) {
    throw new IdentityError('key-file-malformed', `key file ${path} does not hold a base64 secret`);
  }
  try {
    return SecretIdentity.fromSecret(new Uint8Array(Buffer.from(text, 'base64')));
  } catch (err) {
    // The parse error names the layout problem, never the bytes.
    throw new IdentityError('key-file-malformed', `key file ${path} is not a valid secret: ${(err as Error).message}`);
  }
}

/** Loads the key file, or creates it with a fresh id of the given type if there is none. */
export function loadOrCreateKeyFile(path: string, type: IdType): { identity: SecretIdentity; created: boolean } {
  if (exists(path)) return { identity: readKeyFile(path), created: false };
  const identity = SecretIdentity.generate(type);
  try {
    writeKeyFile(path, identity);
  } catch (err) {
    // Another process created it first: use theirs, so both end up with the same id.
    if (err instanceof IdentityError && err.code === 'key-file-exists') return { identity: readKeyFile(path), created: false };
    throw err;
  }
  return { identity, created: true };
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

function syncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  }
}
