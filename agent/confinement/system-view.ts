import { existsSync, lstatSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { isInside } from '../tools/confined-walk';

/** What a build needs from the host, read-only: programs, libraries, and /etc for users, DNS config, certificates. */
const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc'];

/**
 * Files of /etc a command has no business reading: password hashes, host keys, sudo rules, TLS and Kerberos
 * keys. Masked even though commands run as a user that could not read some of them, because the agent may run as root.
 */
const ETC_SECRETS = [
  '/etc/shadow',
  '/etc/shadow-',
  '/etc/gshadow',
  '/etc/gshadow-',
  '/etc/ssh',
  '/etc/sudoers',
  '/etc/sudoers.d',
  '/etc/ssl/private',
  '/etc/krb5.keytab',
  '/etc/security/opasswd',
];

/** How the host's system directories appear inside the sandbox, computed once at start. */
export interface SystemView {
  /** bwrap options: read-only binds of real directories, --symlink for the merged-/usr links (Debian's /bin → usr/bin). */
  readonly args: readonly string[];
  /** Directories bound from the host: a secret under one of them must be masked, elsewhere it is simply absent. */
  readonly bound: readonly string[];
  /** Every system path a command can name: the bound directories and the links recreated to them. */
  readonly visible: readonly string[];
}

/** Masks one path: an empty tmpfs over a directory, /dev/null over a file, so the name stays but the content is gone. */
export function maskArgs(path: string): string[] {
  return statSync(path).isDirectory() ? ['--tmpfs', path] : ['--ro-bind', '/dev/null', path];
}

/**
 * The system part of the sandbox for `execPath`'s Node: its directory is bound too when it lies outside the
 * system directories (an nvm install), so `node` works inside.
 */
export function systemView(execPath: string): SystemView {
  const args: string[] = [];
  const bound: string[] = [];
  const links: string[] = [];
  for (const dir of SYSTEM_DIRS) {
    let link: string | null = null;
    try {
      const st = lstatSync(dir);
      if (st.isSymbolicLink()) link = readlinkSync(dir);
      else if (!st.isDirectory()) continue;
    } catch {
      continue;
    }
    if (link !== null) {
      args.push('--symlink', link, dir);
      links.push(dir);
    } else {
      args.push('--ro-bind', dir, dir);
      bound.push(dir);
    }
  }
  const nodeDir = dirname(realpathSync(execPath));
  if (!bound.some((dir) => isInside(dir, nodeDir))) {
    args.push('--ro-bind', nodeDir, nodeDir);
    bound.push(nodeDir);
  }
  for (const secret of ETC_SECRETS) {
    if (!existsSync(secret)) continue;
    // A secret that is a link is masked where it really lies, if that is inside the sandbox at all.
    const real = realpathSync(secret);
    if (bound.some((dir) => isInside(dir, real))) args.push(...maskArgs(real));
  }
  return { args, bound, visible: [...bound, ...links] };
}
