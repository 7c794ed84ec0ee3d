/**
 * The broker's schema on PostgreSQL: the same tables, columns, nullability, checks, keys and indexes as the final
 * state of database.ts's MIGRATIONS on SQLite (test/broker/store/sql/schema-parity.test.ts compares them).
 * INTEGER is BIGINT (SQLite's integers are 64-bit; read back as JS numbers), BLOB is BYTEA. Text compares
 * byte by byte (COLLATE "C", SQLite's BINARY): an ORDER BY on a name gives the same order on both, whatever
 * locale the server was created with. The tables ordered by (key, rowid) get `rowid`, an identity, so the keyset
 * queries on (sort key, rowid) run unchanged; their sort-key indexes end with it, as SQLite's carry the rowid.
 * Applied in order by postgres-migrate.ts; append, never edit (a database that ran an entry never runs it again),
 * and add the same change to MIGRATIONS.
 */
const TEXT = 'TEXT COLLATE "C"';
const ROWID = 'rowid BIGINT GENERATED ALWAYS AS IDENTITY';

export const POSTGRES_MIGRATIONS: readonly string[] = [
  `CREATE TABLE agents (
     did ${TEXT} PRIMARY KEY,
     id_b64 ${TEXT} NOT NULL,
     name ${TEXT} NOT NULL,
     requested ${TEXT} NOT NULL,
     status ${TEXT} NOT NULL CHECK (status IN ('pending','approved','rejected','revoked')),
     status_reason ${TEXT},
     first_seen BIGINT NOT NULL,
     last_seen BIGINT NOT NULL,
     confinement ${TEXT},
     removed_at BIGINT,
     ${ROWID}
   );
   CREATE TABLE policies (
     agent_did ${TEXT} PRIMARY KEY REFERENCES agents(did),
     version BIGINT NOT NULL,
     capabilities ${TEXT} NOT NULL,
     approval_required ${TEXT} NOT NULL,
     max_tokens_per_day BIGINT NOT NULL,
     max_requests_per_hour BIGINT NOT NULL,
     policy_expires_at BIGINT NOT NULL,
     updated_at BIGINT NOT NULL,
     allowed_domains ${TEXT} NOT NULL DEFAULT '[]',
     cpu_seconds BIGINT,
     memory_bytes BIGINT,
     processes BIGINT,
     file_bytes BIGINT,
     workspace_write_bytes BIGINT,
     rules ${TEXT}
   );
   CREATE TABLE intents (
     id ${TEXT} PRIMARY KEY,
     agent_did ${TEXT} NOT NULL REFERENCES agents(did),
     capability ${TEXT} NOT NULL,
     params ${TEXT} NOT NULL,
     user_did ${TEXT} NOT NULL,
     state ${TEXT} NOT NULL,
     outcome ${TEXT},
     reason ${TEXT},
     rejected_by ${TEXT},
     message ${TEXT},
     output ${TEXT},
     intent_payload BYTEA,
     intent_signature BYTEA,
     result_payload BYTEA,
     result_signature BYTEA,
     created_at BIGINT NOT NULL,
     updated_at BIGINT NOT NULL,
     params_summary ${TEXT},
     params_truncated BIGINT,
     via ${TEXT},
     ${ROWID}
   );
   CREATE TABLE users (
     did ${TEXT} PRIMARY KEY,
     id_b64 ${TEXT} NOT NULL,
     name ${TEXT} NOT NULL,
     role ${TEXT} NOT NULL CHECK (role IN ('owner','admin','operator','reviewer','viewer')),
     invited_by ${TEXT},
     removed_at BIGINT,
     created_at BIGINT NOT NULL,
     last_seen BIGINT NOT NULL,
     role_set_by ${TEXT},
     ${ROWID}
   );
   CREATE TABLE invitations (
     token_hash ${TEXT} PRIMARY KEY,
     role ${TEXT} NOT NULL,
     created_by ${TEXT} NOT NULL,
     created_at BIGINT NOT NULL,
     expires_at BIGINT NOT NULL,
     used_by ${TEXT},
     used_at BIGINT,
     revoked_at BIGINT,
     ${ROWID}
   );
   CREATE TABLE grants (
     id ${TEXT} PRIMARY KEY,
     user_did ${TEXT} NOT NULL,
     agent ${TEXT} NOT NULL,
     capabilities ${TEXT} NOT NULL,
     issued_by ${TEXT} NOT NULL,
     issued_at BIGINT NOT NULL,
     expires_at BIGINT NOT NULL,
     revoked_at BIGINT,
     payload BYTEA NOT NULL,
     signature BYTEA NOT NULL,
     ${ROWID}
   );
   CREATE TABLE revocation_list (
     singleton BIGINT PRIMARY KEY CHECK (singleton = 1),
     version BIGINT NOT NULL
   );
   INSERT INTO revocation_list (singleton, version) VALUES (1, 0);
   CREATE TABLE approvals (
     request_id ${TEXT} PRIMARY KEY,
     intent_id ${TEXT} NOT NULL REFERENCES intents(id),
     agent_did ${TEXT} NOT NULL,
     user_did ${TEXT} NOT NULL,
     capability ${TEXT} NOT NULL,
     params ${TEXT} NOT NULL,
     cwd ${TEXT} NOT NULL,
     requested_at BIGINT NOT NULL,
     expires_at BIGINT NOT NULL,
     state ${TEXT} NOT NULL CHECK (state IN ('pending','approved','rejected','expired')),
     decided_by ${TEXT},
     reason ${TEXT},
     decided_at BIGINT,
     request_payload BYTEA NOT NULL,
     request_signature BYTEA NOT NULL,
     decision_payload BYTEA,
     decision_signature BYTEA,
     countersign_payload BYTEA,
     countersign_signature BYTEA,
     params_summary ${TEXT},
     params_truncated BIGINT,
     reviewers BIGINT CHECK (reviewers >= 1),
     self_review BIGINT NOT NULL DEFAULT 0,
     model_call BIGINT NOT NULL DEFAULT 0,
     rule ${TEXT},
     ${ROWID}
   );
   CREATE TABLE intent_tokens (
     intent_id ${TEXT} NOT NULL REFERENCES intents(id),
     day ${TEXT} NOT NULL,
     agent_did ${TEXT} NOT NULL,
     tokens BIGINT NOT NULL CHECK (tokens >= 0),
     PRIMARY KEY (intent_id, day)
   );
   CREATE TABLE intent_resends (
     intent_id ${TEXT} PRIMARY KEY REFERENCES intents(id),
     count BIGINT NOT NULL CHECK (count >= 0)
   );
   CREATE TABLE approval_decisions (
     request_id ${TEXT} NOT NULL REFERENCES approvals(request_id),
     reviewer ${TEXT} NOT NULL,
     decision ${TEXT} NOT NULL CHECK (decision IN ('approve','reject')),
     self_review BIGINT NOT NULL,
     decided_at BIGINT NOT NULL,
     decision_payload BYTEA NOT NULL,
     decision_signature BYTEA NOT NULL,
     countersign_payload BYTEA NOT NULL,
     countersign_signature BYTEA NOT NULL,
     PRIMARY KEY (request_id, reviewer),
     ${ROWID}
   );
   CREATE TABLE intent_cancels (
     intent_id ${TEXT} PRIMARY KEY REFERENCES intents(id),
     agent_did ${TEXT} NOT NULL,
     cancelled_by ${TEXT} NOT NULL,
     cancelled_at BIGINT NOT NULL,
     resends BIGINT NOT NULL DEFAULT 0 CHECK (resends >= 0),
     ${ROWID}
   );
   CREATE INDEX intents_by_agent ON intents(agent_did, created_at, rowid);
   CREATE INDEX grants_by_user ON grants(user_did);
   CREATE INDEX intent_tokens_by_agent_day ON intent_tokens(agent_did, day);
   CREATE INDEX approvals_pending_by_intent ON approvals(intent_id) WHERE state = 'pending';
   CREATE INDEX intents_in_flight ON intents(agent_did) WHERE state IN ('sent', 'running');
   CREATE UNIQUE INDEX users_by_name ON users(name);
   CREATE INDEX intents_by_created ON intents(created_at, rowid);
   CREATE INDEX approvals_by_requested ON approvals(requested_at, rowid);
   CREATE INDEX approvals_by_state ON approvals(state, requested_at, rowid);
   CREATE INDEX agents_by_first_seen ON agents(first_seen, rowid);
   CREATE INDEX agents_by_status ON agents(status, first_seen, rowid);
   CREATE INDEX users_by_created ON users(created_at, rowid);
   CREATE INDEX invitations_by_created ON invitations(created_at, rowid);
   CREATE INDEX grants_by_issued ON grants(issued_at, rowid);
   CREATE INDEX grants_by_user_issued ON grants(user_did, issued_at, rowid);
   CREATE INDEX approvals_by_intent ON approvals(intent_id);
   CREATE INDEX intent_cancels_by_agent ON intent_cancels(agent_did, cancelled_at, rowid)`,
  // Issue 20: role certificates and their revocations, read by every node's revocation list (database.ts says why).
  `CREATE TABLE role_certificates (
     id ${TEXT} PRIMARY KEY,
     user_did ${TEXT} NOT NULL,
     expires_at BIGINT NOT NULL,
     revoked_at BIGINT
   );
   CREATE INDEX role_certificates_by_user ON role_certificates(user_did);
   CREATE INDEX role_certificates_by_expiry ON role_certificates(expires_at)`,
];
