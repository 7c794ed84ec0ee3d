import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { decodeFrame, encodeFrame } from '../../../core/wire/frame-codec';

const Frame = z.strictObject({ type: z.literal('ping'), n: z.number().int() });

test('an encoded frame decodes back against its schema', () => {
  assert.deepEqual(decodeFrame(Frame, encodeFrame({ type: 'ping', n: 7 }), 1024), { ok: true, value: { type: 'ping', n: 7 } });
});

test('every bad frame is a reason, never a throw: text, too large, not canonical MessagePack, or not of the schema', () => {
  const code = (data: unknown, max = 1024) => {
    const result = decodeFrame(Frame, data, max);
    return result.ok ? 'ok' : result.code;
  };
  const frame = encodeFrame({ type: 'ping', n: 7 });
  assert.equal(code('{"type":"ping"}'), 'malformed');
  assert.equal(code(Buffer.from(frame)), 'ok', 'a Buffer is bytes');
  assert.equal(code(frame, frame.length), 'ok');
  assert.equal(code(frame, frame.length - 1), 'oversized');
  assert.equal(code(new Uint8Array([0xc1])), 'malformed');
  assert.equal(code(new Uint8Array([0x82, 0xa4, ...Buffer.from('type'), 0xa4, ...Buffer.from('ping'), 0xa1, 0x6e, 0xcc, 0x07])), 'malformed', 'n as uint8: not canonical');
  assert.equal(code(encodeFrame({ type: 'ping', n: 7, extra: 1 })), 'bad-schema');
});

test('a schema refusal names the field', () => {
  const result = decodeFrame(Frame, encodeFrame({ type: 'ping', n: 'seven' }), 1024);
  assert.ok(!result.ok);
  assert.match(result.message, /^n: /);
});
