import { execFile } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

export const MIN_NODE_MAJOR = 20;

export interface NodeRuntime {
  path: string;
  version: string;
  source: 'setting' | 'PATH';
}

/** A problem finding Node, worded so the person knows what to do next. */
export class NodeNotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NodeNotFoundError';
  }
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first `node` on a PATH string, or undefined. */
export function findOnPath(pathValue: string | undefined, platform: NodeJS.Platform = process.platform): string | undefined {
  const names = platform === 'win32' ? ['node.exe', 'node.cmd'] : ['node'];
  for (const dir of (pathValue ?? '').split(delimiter)) {
    if (!dir) continue;
    for (const name of names) {
      const candidate = join(dir, name);
      if (isExecutableFile(candidate)) return candidate;
    }
  }
  return undefined;
}

export function nodeVersion(path: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(path, ['--version'], { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout) => {
      if (err) reject(new NodeNotFoundError(`${path} did not run as Node.js (${err.message.split('\n')[0]}).`));
      else resolve(stdout.trim());
    });
  });
}

export function majorOf(version: string): number | undefined {
  const match = /^v?(\d+)\./.exec(version.trim());
  return match ? Number(match[1]) : undefined;
}

/**
 * Node to run the broker with: the vaultysclaw.nodePath setting if set,
 * otherwise the first `node` on PATH. Not the editor's own runtime: the
 * broker's native SQLite module is built for Node's ABI, not Electron's.
 */
export async function resolveNode(setting: string, pathValue: string | undefined = process.env.PATH): Promise<NodeRuntime> {
  let path: string;
  let source: NodeRuntime['source'];
  if (setting.trim()) {
    path = setting.trim();
    source = 'setting';
    if (!isAbsolute(path)) throw new NodeNotFoundError(`vaultysclaw.nodePath must be an absolute path to a Node.js ${MIN_NODE_MAJOR}+ executable, not "${path}".`);
    if (!isExecutableFile(path)) throw new NodeNotFoundError(`vaultysclaw.nodePath points at ${path}, which is not an executable file. Fix the setting or clear it to use Node from PATH.`);
  } else {
    const found = findOnPath(pathValue);
    if (!found) {
      throw new NodeNotFoundError(
        `VaultysClaw needs Node.js ${MIN_NODE_MAJOR} or later to run its broker, and found no "node" on PATH. Install Node.js ${MIN_NODE_MAJOR}+ or set vaultysclaw.nodePath to its executable (or attach to a team broker with vaultysclaw.brokerMode = remote).`,
      );
    }
    path = found;
    source = 'PATH';
  }
  const version = await nodeVersion(path);
  const major = majorOf(version);
  if (major === undefined || major < MIN_NODE_MAJOR) {
    throw new NodeNotFoundError(`${path} is Node.js ${version}; the broker needs ${MIN_NODE_MAJOR} or later. Install a newer Node.js or set vaultysclaw.nodePath to one.`);
  }
  return { path, version, source };
}
