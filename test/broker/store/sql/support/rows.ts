import type { Insertable } from 'kysely';
import type { BrokerTables } from '../../../../../broker/store/sql/tables';

const MAX = Number.MAX_SAFE_INTEGER;
const did = (n: number): string => `did:vaultys:${n.toString(16).padStart(40, '0')}`;
const bytes = (n: number, size = 64): Buffer => Buffer.from(Array.from({ length: size }, (_, i) => (i * 31 + n) & 0xff));
const json = JSON.stringify({ path: 'src/ä.ts', args: ['--x', '"quoted"'], nested: { n: 1 } });

type Rows = { [T in Exclude<keyof BrokerTables, 'revocation_list'>]: Insertable<BrokerTables[T]> };

/**
 * One row of every table, in an order the foreign keys accept, each with every column set: Buffers (with bytes
 * 0x00 and 0xff), integers up to Number.MAX_SAFE_INTEGER, NULLs and JSON text. Defaults are set too, so what is
 * read back must equal what was written.
 */
export const ROWS: Rows = {
  agents: {
    did: did(1), id_b64: 'AAEC/w==', name: 'build-1', requested: json, status: 'approved', status_reason: null,
    first_seen: MAX, last_seen: 0, confinement: json, removed_at: null,
  },
  policies: {
    agent_did: did(1), version: MAX, capabilities: '["read_file"]', approval_required: '[]', max_tokens_per_day: MAX,
    max_requests_per_hour: 0, policy_expires_at: MAX - 1, updated_at: 1, allowed_domains: '["example.com"]', cpu_seconds: null,
    memory_bytes: 8 * 2 ** 30, processes: 64, file_bytes: null, workspace_write_bytes: 2 ** 40, rules: null,
  },
  intents: {
    id: 'a'.repeat(32), agent_did: did(1), capability: 'run_command', params: json, user_did: did(2), state: 'done',
    outcome: 'success', reason: null, rejected_by: null, message: 'ok', output: 'line\n\u0001after a control character', intent_payload: bytes(1),
    intent_signature: bytes(2), result_payload: null, result_signature: bytes(3, 0), created_at: MAX, updated_at: MAX,
    params_summary: json, params_truncated: 1, via: null,
  },
  users: { did: did(2), id_b64: 'x', name: 'alice', role: 'owner', invited_by: null, removed_at: MAX, created_at: 0, last_seen: MAX, role_set_by: did(3) },
  invitations: { token_hash: 'f'.repeat(64), role: 'viewer', created_by: did(2), created_at: 1, expires_at: MAX, used_by: null, used_at: null, revoked_at: 2 },
  grants: {
    id: 'b'.repeat(32), user_did: did(2), agent: did(1), capabilities: '["read_file"]', issued_by: did(2), issued_at: 5, expires_at: MAX,
    revoked_at: null, payload: bytes(4, 4096), signature: bytes(5),
  },
  approvals: {
    request_id: 'c'.repeat(32), intent_id: 'a'.repeat(32), agent_did: did(1), user_did: did(2), capability: 'run_command', params: json,
    cwd: '.', requested_at: MAX, expires_at: MAX, state: 'approved', decided_by: did(3), reason: null, decided_at: MAX,
    request_payload: bytes(6), request_signature: bytes(7), decision_payload: null, decision_signature: null, countersign_payload: bytes(8),
    countersign_signature: bytes(9), params_summary: null, params_truncated: 0, reviewers: 2, self_review: 1, model_call: 0, rule: json,
  },
  intent_tokens: { intent_id: 'a'.repeat(32), day: '2026-12-05', agent_did: did(1), tokens: MAX },
  intent_resends: { intent_id: 'a'.repeat(32), count: 3 },
  intent_cancels: { intent_id: 'a'.repeat(32), agent_did: did(1), cancelled_by: did(2), cancelled_at: MAX, resends: 0 },
  approval_decisions: {
    request_id: 'c'.repeat(32), reviewer: did(3), decision: 'approve', self_review: 0, decided_at: MAX, decision_payload: bytes(10),
    decision_signature: bytes(11), countersign_payload: bytes(12), countersign_signature: bytes(13),
  },
  role_certificates: { id: 'd'.repeat(32), user_did: did(2), expires_at: MAX, revoked_at: null },
};

export { did };
