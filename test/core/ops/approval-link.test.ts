// Approval deep links (core/ops/approval-link.ts): any web page or chat message can open a
// vscode://vaultysclaw.vaultysclaw/… link, so the extension's URI handler reads it with parseApprovalLink, which
// takes exactly one well-formed request id on /approval and nothing else, and refuses a link past
// BUDGETS.deepLinkBytes unread. Unit cases and fast-check properties.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { BUDGETS } from '../../../core/budgets';
import { approvalLink, EXTENSION_ID, parseApprovalLink } from '../../../core/ops/approval-link';
import { fuzzParameters } from '../../fault/support/fuzz-budget';

const id = () => randomBytes(16).toString('hex');
/** What VS Code hands a URI handler: the path and the query of the link. */
const reading = (link: string) => {
  const url = new URL(link);
  return { path: url.pathname, query: url.search.slice(1) };
};
const TOO_LONG = 'the link is too long to be a VaultysClaw approval link';
const ONE_ID = 'an approval link carries exactly one id and nothing else';
const BAD_ID = 'the approval id in the link is not well formed';
const NOT_APPROVAL = 'VaultysClaw only opens approval links (…/approval?id=…)';

describe('approval deep links', () => {
  test('the link a notification carries names the extension and reads back as its request id', () => {
    const requestId = id();
    const link = approvalLink(requestId);
    assert.equal(link, `vscode://${EXTENSION_ID}/approval?id=${requestId}`);
    assert.deepEqual(parseApprovalLink(reading(link)), { ok: true, requestId });
  });

  test('another path, extra or repeated params and ids that are not 128-bit hex are refused, each with its reason', () => {
    const requestId = id();
    const cases: [{ path: string; query: string }, string][] = [
      [{ path: '/approve', query: `id=${requestId}` }, NOT_APPROVAL],
      [{ path: '/approval/', query: `id=${requestId}` }, NOT_APPROVAL],
      [{ path: '', query: `id=${requestId}` }, NOT_APPROVAL],
      [{ path: '/approval', query: `id=${requestId}&decision=approve` }, ONE_ID],
      [{ path: '/approval', query: `id=${requestId}&id=${id()}` }, ONE_ID],
      [{ path: '/approval', query: '' }, ONE_ID],
      [{ path: '/approval', query: `ID=${requestId}` }, ONE_ID],
      [{ path: '/approval', query: `id=${requestId.toUpperCase()}` }, BAD_ID],
      [{ path: '/approval', query: `id=${requestId}0` }, BAD_ID],
      [{ path: '/approval', query: `id=${requestId.slice(1)}` }, BAD_ID],
      [{ path: '/approval', query: 'id=../../etc/passwd' }, BAD_ID],
      [{ path: '/approval', query: `id=${requestId}%0a` }, BAD_ID],
      [{ path: '/approval', query: 'id=' }, BAD_ID],
    ];
    for (const [link, reason] of cases) assert.deepEqual(parseApprovalLink(link), { ok: false, reason }, JSON.stringify(link));
  });

  test(`a link of BUDGETS.deepLinkBytes (${BUDGETS.deepLinkBytes.limit}) bytes is read; one byte more is refused unread`, () => {
    const requestId = id();
    const base = `id=${requestId}`;
    // Empty "&" pairs name no parameter: the link at the bound is a valid one, so only its length decides.
    const pad = (total: number) => base + '&'.repeat(total - '/approval'.length - base.length);
    const atBound = { path: '/approval', query: pad(BUDGETS.deepLinkBytes.limit) };
    assert.equal(Buffer.byteLength(atBound.path) + Buffer.byteLength(atBound.query), BUDGETS.deepLinkBytes.limit);
    assert.deepEqual(parseApprovalLink(atBound), { ok: true, requestId });
    const over = { path: '/approval', query: pad(BUDGETS.deepLinkBytes.limit + 1) };
    assert.deepEqual(parseApprovalLink(over), { ok: false, reason: TOO_LONG });
    // Bytes, not characters: multi-byte text counts for what it weighs.
    const wide = { path: '/approval', query: `${base}&x=${'é'.repeat(BUDGETS.deepLinkBytes.limit / 2)}` };
    assert.deepEqual(parseApprovalLink(wide), { ok: false, reason: TOO_LONG });
  });

  test('property: every id approvalLink writes reads back as itself', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
        const requestId = Buffer.from(bytes).toString('hex');
        assert.deepEqual(parseApprovalLink(reading(approvalLink(requestId))), { ok: true, requestId });
      }),
      fuzzParameters(500, 5_000),
    );
  });

  test('property: any path and query are answered without a throw, accepted only as /approval with one 128-bit hex id, and never echoed', () => {
    const pathArb = fc.oneof(fc.constant('/approval'), fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }));
    const queryArb = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc.tuple(fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 })).map(([k, v]) => `id=${id()}&${k}=${v}`),
      fc.string({ maxLength: 3 * BUDGETS.deepLinkBytes.limit }),
    );
    fc.assert(
      fc.property(pathArb, queryArb, (path, query) => {
        const read = parseApprovalLink({ path, query });
        const params = new URLSearchParams(query);
        const valid =
          Buffer.byteLength(path) + Buffer.byteLength(query) <= BUDGETS.deepLinkBytes.limit &&
          path === '/approval' &&
          [...params.keys()].length === 1 &&
          params.has('id') &&
          /^[0-9a-f]{32}$/.test(params.get('id')!);
        assert.equal(read.ok, valid, JSON.stringify({ path, query }));
        if (!read.ok) {
          assert.ok([TOO_LONG, ONE_ID, BAD_ID, NOT_APPROVAL].includes(read.reason));
        }
      }),
      fuzzParameters(2_000, 10_000),
    );
  });
});
