import { BUDGETS } from '../budgets';

const encoder = new TextEncoder();

export const utf8Bytes = (text: string): number => Buffer.byteLength(text, 'utf8');

/** The longest start of `text` that is at most `maxBytes` in UTF-8, never splitting a character (encodeInto stops before one that does not fit). */
export function utf8Prefix(text: string, maxBytes: number): string {
  if (maxBytes <= 0) return '';
  const { read } = encoder.encodeInto(text, new Uint8Array(maxBytes));
  return text.slice(0, read);
}

/**
 * A tool result's text for a model, within BUDGETS.modelResultBytes: the head (what was asked, how it ended) and the
 * tail (who answered, the intent id) are kept whole and the body (an agent's output, a list) is cut to fit, with a
 * line that says so. A model given megabytes of a remote file would lose its context, and with it the user's
 * instructions, to whatever that file says.
 */
export function boundedModelText(head: string, body: string, tail: string, limit: number = BUDGETS.modelResultBytes.limit): string {
  const around = (b: string, note: string) => [head, b, note, tail].filter((s) => s !== '').join('\n');
  const whole = around(body, '');
  if (utf8Bytes(whole) <= limit) return whole;
  const note = `[cut here: a tool result is at most ${limit} bytes; the rest of this output was not given to you]`;
  // The 1-byte stand-in counts the line break that joins the body to the rest.
  const room = limit - utf8Bytes(around('x', note)) + 1;
  const text = around(utf8Prefix(body, room), note);
  // A head or tail past the limit on its own (a huge path in the head): the whole text is cut, still within it.
  return utf8Bytes(text) <= limit ? text : utf8Prefix(text, limit);
}
