/**
 * Every way a handshake message or certificate can be refused. Each attack in
 * the test suite maps to exactly one of these, so audits can tell them apart.
 */
export type HandshakeRejection =
  | 'oversized'
  | 'truncated'
  | 'malformed'
  | 'non-canonical'
  | 'unsupported-version'
  | 'bad-schema'
  | 'bad-metadata'
  | 'unsupported-id'
  | 'bad-id'
  | 'unexpected-message'
  | 'wrong-protocol'
  | 'self-handshake'
  | 'metadata-preset'
  | 'stale'
  | 'bad-responder-signature'
  | 'bad-initiator-signature'
  | 'unsolicited'
  | 'session-mismatch'
  | 'timestamp-mismatch'
  | 'peer-mismatch'
  | 'metadata-rewritten'
  | 'peer-refused'
  | 'replay'
  | 'out-of-order';

export type HandshakeResult<T> =
  | { ok: true; value: T }
  | { ok: false; reason: HandshakeRejection; message: string };

export function reject(reason: HandshakeRejection, message: string): { ok: false; reason: HandshakeRejection; message: string } {
  return { ok: false, reason, message };
}
