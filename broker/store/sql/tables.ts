import type { Generated, GeneratedAlways } from 'kysely';

/**
 * The broker's tables as Kysely sees them: the final state of database.ts's MIGRATIONS (SQLite) and of
 * POSTGRES_MIGRATIONS, column names as they are. INTEGER / BIGINT read as a JS number (PostgreSQL's int8 is parsed
 * so: postgres-pool.ts), BLOB / BYTEA as a Buffer, NULL as null. `rowid` is SQLite's own on the tables ordered
 * by (sort key, rowid) (PAGED_TABLES); PostgreSQL gives those tables an identity column of that name.
 */
type RowId = GeneratedAlways<number>;

export interface AgentsTable {
  rowid: RowId;
  did: string;
  id_b64: string;
  name: string;
  requested: string;
  status: 'pending' | 'approved' | 'rejected' | 'revoked';
  status_reason: string | null;
  first_seen: number;
  last_seen: number;
  confinement: string | null;
  removed_at: number | null;
}

export interface PoliciesTable {
  agent_did: string;
  version: number;
  capabilities: string;
  approval_required: string;
  max_tokens_per_day: number;
  max_requests_per_hour: number;
  policy_expires_at: number;
  updated_at: number;
  allowed_domains: Generated<string>;
  cpu_seconds: number | null;
  memory_bytes: number | null;
  processes: number | null;
  file_bytes: number | null;
  workspace_write_bytes: number | null;
  rules: string | null;
}

export interface IntentsTable {
  rowid: RowId;
  id: string;
  agent_did: string;
  capability: string;
  params: string;
  user_did: string;
  state: string;
  outcome: string | null;
  reason: string | null;
  rejected_by: string | null;
  message: string | null;
  output: string | null;
  intent_payload: Buffer | null;
  intent_signature: Buffer | null;
  result_payload: Buffer | null;
  result_signature: Buffer | null;
  created_at: number;
  updated_at: number;
  params_summary: string | null;
  params_truncated: number | null;
  via: string | null;
}

export interface UsersTable {
  rowid: RowId;
  did: string;
  id_b64: string;
  name: string;
  role: 'owner' | 'admin' | 'operator' | 'reviewer' | 'viewer';
  invited_by: string | null;
  removed_at: number | null;
  created_at: number;
  last_seen: number;
  role_set_by: string | null;
}

export interface InvitationsTable {
  rowid: RowId;
  token_hash: string;
  role: string;
  created_by: string;
  created_at: number;
  expires_at: number;
  used_by: string | null;
  used_at: number | null;
  revoked_at: number | null;
}

export interface GrantsTable {
  rowid: RowId;
  id: string;
  user_did: string;
  agent: string;
  capabilities: string;
  issued_by: string;
  issued_at: number;
  expires_at: number;
  revoked_at: number | null;
  payload: Buffer;
  signature: Buffer;
}

export interface RevocationListTable {
  singleton: number;
  version: number;
}

export interface ApprovalsTable {
  rowid: RowId;
  request_id: string;
  intent_id: string;
  agent_did: string;
  user_did: string;
  capability: string;
  params: string;
  cwd: string;
  requested_at: number;
  expires_at: number;
  state: 'pending' | 'approved' | 'rejected' | 'expired';
  decided_by: string | null;
  reason: string | null;
  decided_at: number | null;
  request_payload: Buffer;
  request_signature: Buffer;
  decision_payload: Buffer | null;
  decision_signature: Buffer | null;
  countersign_payload: Buffer | null;
  countersign_signature: Buffer | null;
  params_summary: string | null;
  params_truncated: number | null;
  reviewers: number | null;
  self_review: Generated<number>;
  model_call: Generated<number>;
  rule: string | null;
}

export interface IntentTokensTable {
  intent_id: string;
  day: string;
  agent_did: string;
  tokens: number;
}

export interface IntentResendsTable {
  intent_id: string;
  count: number;
}

export interface IntentCancelsTable {
  rowid: RowId;
  intent_id: string;
  agent_did: string;
  cancelled_by: string;
  cancelled_at: number;
  resends: Generated<number>;
}

export interface ApprovalDecisionsTable {
  rowid: RowId;
  request_id: string;
  reviewer: string;
  decision: 'approve' | 'reject';
  self_review: number;
  decided_at: number;
  decision_payload: Buffer;
  decision_signature: Buffer;
  countersign_payload: Buffer;
  countersign_signature: Buffer;
}

export interface RoleCertificatesTable {
  id: string;
  user_did: string;
  expires_at: number;
  revoked_at: number | null;
}

export interface BrokerTables {
  agents: AgentsTable;
  policies: PoliciesTable;
  intents: IntentsTable;
  users: UsersTable;
  invitations: InvitationsTable;
  grants: GrantsTable;
  revocation_list: RevocationListTable;
  approvals: ApprovalsTable;
  intent_tokens: IntentTokensTable;
  intent_resends: IntentResendsTable;
  intent_cancels: IntentCancelsTable;
  approval_decisions: ApprovalDecisionsTable;
  role_certificates: RoleCertificatesTable;
}

/**
 * The tables ordered by (sort key, rowid): read a page at a time by keyset, or read in the order their rows came
 * (intent_cancels oldest first with ties in insertion order, approval_decisions): the ones PostgreSQL gives a
 * `rowid` identity.
 */
export const PAGED_TABLES = ['agents', 'intents', 'users', 'invitations', 'grants', 'approvals', 'intent_cancels', 'approval_decisions'] as const satisfies readonly (keyof BrokerTables)[];
