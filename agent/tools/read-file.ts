import { decodeWithin } from './utf8';
import type { ToolContext, ToolParams } from './types';

/** Leaves room in the 192 KiB signed result envelope (core/wire/common Envelope) for the rest of the result. */
export const READ_FILE_MAX_BYTES = 128 * 1024;

/** `bytes` is the file's size; `content` holds at most READ_FILE_MAX_BYTES of it, cut on a character boundary. */
export type ReadFileOutput = { content: string; bytes: number; truncated: boolean };

export async function readFile(params: ToolParams<'read_file'>, ctx: ToolContext): Promise<ReadFileOutput> {
  const file = await ctx.sandbox.openFile(params.path);
  try {
    const { size } = await file.stat();
    // One byte past the cap tells a file that grew since stat from one that fits exactly.
    const buffer = Buffer.alloc(READ_FILE_MAX_BYTES + 1);
    let filled = 0;
    while (filled < buffer.length) {
      const { bytesRead } = await file.read(buffer, filled, buffer.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    const { text, truncated } = decodeWithin(buffer.subarray(0, filled), READ_FILE_MAX_BYTES);
    return { content: text, bytes: Math.max(size, filled), truncated };
  } finally {
    await file.close();
  }
}
