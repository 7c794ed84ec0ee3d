import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { quoted } from './sandbox-error';
import { pathThroughHandle } from './sandbox';
import { ToolFailure, type ToolContext, type ToolParams } from './types';

// O_EXCL refuses any existing entry, links included, so neither a racing file nor a planted link is written through.
const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

export type WriteFileOutput = { bytesWritten: number; path: string };

export async function writeFile(params: ToolParams<'write_file'>, ctx: ToolContext): Promise<WriteFileOutput> {
  const { dir, name, path } = await ctx.sandbox.openParentForCreate(params.path);
  try {
    const data = Buffer.from(params.content, 'utf8');
    if (params.mode === 'create') {
      await createFile(pathThroughHandle(dir, name), data, null, params.path);
    } else {
      await replaceFile(dir, name, data);
    }
    return { bytesWritten: data.length, path };
  } finally {
    await dir.close();
  }
}

/** `keepMode`: the permissions of the file being replaced; a brand-new file gets 0644 less the umask. */
async function createFile(target: string, data: Buffer, keepMode: number | null, rel: string): Promise<void> {
  const file = await open(target, CREATE_NEW, 0o644).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EEXIST') throw new ToolFailure('failed', `${quoted(rel)} already exists (mode "create"; use "overwrite" to replace it)`);
    throw err;
  });
  try {
    await file.writeFile(data);
    if (keepMode !== null) await file.chmod(keepMode);
    await file.sync();
  } catch (err) {
    await file.close();
    await unlink(target).catch(() => undefined);
    throw err;
  }
  await file.close();
}

/**
 * Readers see the old file or the new one, never half of each: the content goes to a fresh temporary file
 * in the same directory, which is then renamed over the target. rename replaces a link planted at the
 * target (racing the check) instead of following it.
 */
async function replaceFile(dir: FileHandle, name: string, data: Buffer): Promise<void> {
  const target = pathThroughHandle(dir, name);
  const previous = await lstat(target).catch(() => null);
  const keepMode = previous?.isFile() ? previous.mode & 0o777 : null;
  const temporary = pathThroughHandle(dir, `.vaultysclaw-${randomBytes(8).toString('hex')}.tmp`);
  await createFile(temporary, data, keepMode, name);
  try {
    await rename(temporary, target);
  } catch (err) {
    await unlink(temporary).catch(() => undefined);
    if ((err as NodeJS.ErrnoException).code === 'EISDIR') throw new ToolFailure('failed', `${quoted(name)} is a directory`);
    throw err;
  }
}
