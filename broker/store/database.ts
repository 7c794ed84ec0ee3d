import { openSqliteDatabase, type SqliteDatabase } from '../../core/storage/sqlite-database';
import { timeStorage } from './storage-timing';

export type BrokerDatabase = SqliteDatabase;

/** Schema migrations, applied in order; `user_version` records how many have run (exported for upgrade tests). */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE agents (
     did TEXT PRIMARY KEY,
     id_b64 TEXT NOT NULL,
     name TEXT NOT NULL,
     requested TEXT NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('pending','approved','rejected','revoked')),
     status_reason TEXT,
     first_seen INTEGER NOT NULL,
     last_seen INTEGER NOT NULL
   ) STRICT`,
  `CREATE TABLE policies (
     agent_did TEXT PRIMARY KEY REFERENCES agents(did),
     version INTEGER NOT NULL,
     capabilities TEXT NOT NULL,
     approval_required TEXT NOT NULL,
     max_tokens_per_day INTEGER NOT NULL,
     max_requests_per_hour INTEGER NOT NULL,
     policy_expires_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   ) STRICT`,
  `CREATE TABLE intents (
     id TEXT PRIMARY KEY,
     agent_did TEXT NOT NULL REFERENCES agents(did),
     capability TEXT NOT NULL,
     params TEXT NOT NULL,
     user_did TEXT NOT NULL,
     state TEXT NOT NULL,
     outcome TEXT,
     reason TEXT,
     rejected_by TEXT,
     message TEXT,
     output TEXT,
     intent_payload BLOB,
     intent_signature BLOB,
     result_payload BLOB,
     result_signature BLOB,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   ) STRICT`,
  `CREATE INDEX intents_by_agent ON intents(agent_did, created_at)`,
  `CREATE TABLE users (
     did TEXT PRIMARY KEY,
     id_b64 TEXT NOT NULL,
     name TEXT NOT NULL,
     role TEXT NOT NULL CHECK (role IN ('owner','admin','operator','reviewer','viewer')),
     invited_by TEXT,
     removed_at INTEGER,
     created_at INTEGER NOT NULL,
     last_seen INTEGER NOT NULL
   ) STRICT`,
  `CREATE TABLE invitations (
     token_hash TEXT PRIMARY KEY,
     role TEXT NOT NULL,
     created_by TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     used_by TEXT,
     used_at INTEGER,
     revoked_at INTEGER
   ) STRICT`,
  `CREATE TABLE grants (
     id TEXT PRIMARY KEY,
     user_did TEXT NOT NULL,
     agent TEXT NOT NULL,
     capabilities TEXT NOT NULL,
     issued_by TEXT NOT NULL,
     issued_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     revoked_at INTEGER,
     payload BLOB NOT NULL,
     signature BLOB NOT NULL
   ) STRICT`,
  `CREATE INDEX grants_by_user ON grants(user_did)`,
  `CREATE TABLE revocation_list (
     singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
     version INTEGER NOT NULL
   ) STRICT`,
  `INSERT INTO revocation_list (singleton, version) VALUES (1, 0)`,
  `CREATE TABLE approvals (
     request_id TEXT PRIMARY KEY,
     intent_id TEXT NOT NULL REFERENCES intents(id),
     agent_did TEXT NOT NULL,
     user_did TEXT NOT NULL,
     capability TEXT NOT NULL,
     params TEXT NOT NULL,
     cwd TEXT NOT NULL,
     requested_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('pending','approved','rejected','expired')),
     decided_by TEXT,
     reason TEXT,
     decided_at INTEGER,
     request_payload BLOB NOT NULL,
     request_signature BLOB NOT NULL,
     decision_payload BLOB,
     decision_signature BLOB,
     countersign_payload BLOB,
     countersign_signature BLOB
   ) STRICT`,
  // The tokens each llm_task intent reported, signed, per UTC day: the broker's view of an agent's daily budget.
  `CREATE TABLE intent_tokens (
     intent_id TEXT NOT NULL REFERENCES intents(id),
     day TEXT NOT NULL,
     agent_did TEXT NOT NULL,
     tokens INTEGER NOT NULL CHECK (tokens >= 0),
     PRIMARY KEY (intent_id, day)
   ) STRICT`,
  `CREATE INDEX intent_tokens_by_agent_day ON intent_tokens(agent_did, day)`,
  // Every intent that ends asks for its pending approvals (ApprovalStore.pendingFor): a lookup, not a scan of all past approvals.
  `CREATE INDEX approvals_pending_by_intent ON approvals(intent_id) WHERE state = 'pending'`,
  // An agent's handshake and disconnect ask for its intents in flight (IntentStore.inFlight): not a scan of its whole history.
  `CREATE INDEX intents_in_flight ON intents(agent_did) WHERE state IN ('sent', 'running')`,
  // Who last set a user's role: a demoted user is told by whom (issue 13, finding 2).
  `ALTER TABLE users ADD COLUMN role_set_by TEXT`,
  // Names are what reviewers read: one user per name. Brokers from before renamed at every login, so a
  // duplicate left over keeps the first holder's name and the others get their fingerprint's head beside it.
  `UPDATE users SET name = name || ' (' || upper(substr(did, 13, 4)) || ' ' || upper(substr(did, 17, 4)) || ')' WHERE rowid NOT IN (SELECT MIN(rowid) FROM users GROUP BY name)`,
  `CREATE UNIQUE INDEX users_by_name ON users(name)`,
  // How often each intent in flight was sent again to a new connection of its agent (BUDGETS.intentResends), across restarts.
  `CREATE TABLE intent_resends (
     intent_id TEXT PRIMARY KEY REFERENCES intents(id),
     count INTEGER NOT NULL CHECK (count >= 0)
   ) STRICT`,
  // Lists are read a page at a time, by keyset on (sort key, rowid): each needs an index on its sort key (rowid is in every index),
  // and items are summaries: the params a list shows are cut once, when the row is written (summary-params.ts).
  `ALTER TABLE intents ADD COLUMN params_summary TEXT;
   ALTER TABLE intents ADD COLUMN params_truncated INTEGER;
   ALTER TABLE approvals ADD COLUMN params_summary TEXT;
   ALTER TABLE approvals ADD COLUMN params_truncated INTEGER;
   CREATE INDEX intents_by_created ON intents(created_at);
   CREATE INDEX approvals_by_requested ON approvals(requested_at);
   CREATE INDEX approvals_by_state ON approvals(state, requested_at);
   CREATE INDEX agents_by_first_seen ON agents(first_seen);
   CREATE INDEX agents_by_status ON agents(status, first_seen);
   CREATE INDEX users_by_created ON users(created_at);
   CREATE INDEX invitations_by_created ON invitations(created_at);
   CREATE INDEX grants_by_issued ON grants(issued_at);
   CREATE INDEX grants_by_user_issued ON grants(user_did, issued_at)`,
  // Issue 14: what an agent's commands may reach and use, certified with the rest of its policy. A limit left NULL
  // (a policy set before the upgrade, certified with no limit) reads as the widest the wire allows (MAX_COMMAND_LIMITS);
  // and how each agent last said it confines its commands (its signed hello's JSON; NULL: an agent before 0.3.0).
  `ALTER TABLE policies ADD COLUMN allowed_domains TEXT NOT NULL DEFAULT '[]';
   ALTER TABLE policies ADD COLUMN cpu_seconds INTEGER;
   ALTER TABLE policies ADD COLUMN memory_bytes INTEGER;
   ALTER TABLE policies ADD COLUMN processes INTEGER;
   ALTER TABLE policies ADD COLUMN file_bytes INTEGER;
   ALTER TABLE policies ADD COLUMN workspace_write_bytes INTEGER;
   ALTER TABLE agents ADD COLUMN confinement TEXT`,
  // Issue 16: the allow / ask / deny rules certified with the policy (its JSON; NULL: none, each capability keeps its old
  // meaning), and approvals that need several distinct reviewers: what the request asked (reviewers NULL: one, as every
  // request before), whether the broker's own intent record says a model chose the call, and each reviewer's signed
  // decision in a row of its own (one per reviewer: a second decision by the same reviewer is refused by the key). The
  // decisions made before are copied there so a request reads its approvals from one place.
  `ALTER TABLE policies ADD COLUMN rules TEXT;
   ALTER TABLE approvals ADD COLUMN reviewers INTEGER CHECK (reviewers >= 1);
   ALTER TABLE approvals ADD COLUMN self_review INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE approvals ADD COLUMN model_call INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE approvals ADD COLUMN rule TEXT;
   CREATE TABLE approval_decisions (
     request_id TEXT NOT NULL REFERENCES approvals(request_id),
     reviewer TEXT NOT NULL,
     decision TEXT NOT NULL CHECK (decision IN ('approve','reject')),
     self_review INTEGER NOT NULL,
     decided_at INTEGER NOT NULL,
     decision_payload BLOB NOT NULL,
     decision_signature BLOB NOT NULL,
     countersign_payload BLOB NOT NULL,
     countersign_signature BLOB NOT NULL,
     PRIMARY KEY (request_id, reviewer)
   ) STRICT;
   INSERT INTO approval_decisions
     SELECT request_id, decided_by, CASE state WHEN 'approved' THEN 'approve' ELSE 'reject' END, 0, decided_at,
       decision_payload, decision_signature, countersign_payload, countersign_signature
     FROM approvals WHERE state IN ('approved','rejected') AND decided_by IS NOT NULL AND decision_payload IS NOT NULL
       AND countersign_payload IS NOT NULL`,
  // Issue 17: an admin removes a revoked or rejected agent from the lists. The row stays (its intents reference it, and
  // its status keeps the key refused when it reconnects: a removed key never comes back as a fresh registration).
  `ALTER TABLE agents ADD COLUMN removed_at INTEGER`,
  // Each approval request counts against its intent's lifetime budget (BUDGETS.approvalRequestsPerIntent): a lookup, not a scan.
  `CREATE INDEX approvals_by_intent ON approvals(intent_id)`,
  // Issue 17: a cancel its agent has not answered yet (it was offline, or its connection dropped the frame), re-sent
  // signed when the agent reconnects, across broker restarts (BUDGETS.pendingCancelsPerAgent rows per agent at most).
  `CREATE TABLE intent_cancels (
     intent_id TEXT PRIMARY KEY REFERENCES intents(id),
     agent_did TEXT NOT NULL,
     cancelled_by TEXT NOT NULL,
     cancelled_at INTEGER NOT NULL,
     resends INTEGER NOT NULL DEFAULT 0 CHECK (resends >= 0)
   ) STRICT;
   CREATE INDEX intent_cancels_by_agent ON intent_cancels(agent_did, cancelled_at)`,
  // Issue 18: which model dispatched an intent ("vscode-lm", "mcp:<client>"; NULL: a person, as every intent before).
  // The broker's own record: kept even when the signed intent leaves it out for an agent before 0.5.0.
  `ALTER TABLE intents ADD COLUMN via TEXT`,
  // Issue 20: the role certificates an owner or admin was signed (on any node of a cluster), until they expire, and
  // when each was revoked (its user lost the role): every node's revocation list reads them here, so a list another
  // node signs, or this node signs after a restart, still names a certificate revoked elsewhere or before.
  `CREATE TABLE role_certificates (
     id TEXT PRIMARY KEY,
     user_did TEXT NOT NULL,
     expires_at INTEGER NOT NULL,
     revoked_at INTEGER
   ) STRICT;
   CREATE INDEX role_certificates_by_user ON role_certificates(user_did);
   CREATE INDEX role_certificates_by_expiry ON role_certificates(expires_at)`,
];

/**
 * The one place that opens the broker's database (core/storage/sqlite-database.ts: WAL, synchronous=FULL,
 * 0600 files): a registration decision, a policy, a user's role, a grant, a revocation or an approval
 * survives a power loss once acknowledged. Intent bookkeeping opts out, through `relaxedWrites`.
 */
export function openDatabase(path: string): BrokerDatabase {
  return timeStorage(openSqliteDatabase(path, { migrations: MIGRATIONS, what: 'database', program: 'broker' }));
}

/**
 * Runs `fn` with its commits (each statement in autocommit, or a transaction
 * it runs) made with synchronous=NORMAL: in WAL mode such a commit is atomic
 * and survives a crash of the process, but not necessarily a power loss or an
 * OS crash, which may roll back the last relaxed commits (never a FULL one,
 * whose fsync covers the whole WAL before it). For writes whose loss the
 * system already tolerates; the caller says why.
 */
export function relaxedWrites(db: BrokerDatabase): <T>(fn: () => T) => T {
  // Issued afresh at every call: SQLite applies this pragma when its statement is prepared, so a statement
  // prepared once and run again leaves the first call at FULL.
  return (fn) => {
    db.pragma('synchronous = NORMAL');
    try {
      return fn();
    } finally {
      db.pragma('synchronous = FULL');
    }
  };
}
