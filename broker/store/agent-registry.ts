import { Confinement, type AgentHello, type RegistrationStatus } from '../../core/wire/policy';
import { relaxedWrites, type BrokerDatabase } from './database';
import { readPage, type Keyed } from './keyset-page';
import type { Page, PageRequest } from '../../core/rpc/pages';

export interface AgentRecord {
  did: string;
  idBase64: string;
  name: string;
  requested: string[];
  status: RegistrationStatus;
  statusReason: string | null;
  /** What its last signed hello said about how it runs commands; null before agent 0.3.0. */
  confinement: Confinement | null;
  firstSeen: number;
  lastSeen: number;
  /** When an admin removed it from the lists (revoked or rejected agents only); null: listed. */
  removedAt: number | null;
}

interface AgentRow {
  did: string;
  id_b64: string;
  name: string;
  requested: string;
  status: RegistrationStatus;
  status_reason: string | null;
  confinement: string | null;
  first_seen: number;
  last_seen: number;
  removed_at: number | null;
}

/** Parsed again on the way out: the row is only as trustworthy as the data directory it sits in. */
function confinementOf(text: string | null): Confinement | null {
  if (text === null) return null;
  try {
    const parsed = Confinement.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

function toRecord(row: AgentRow): AgentRecord {
  return {
    did: row.did,
    idBase64: row.id_b64,
    name: row.name,
    requested: JSON.parse(row.requested) as string[],
    status: row.status,
    statusReason: row.status_reason,
    confinement: confinementOf(row.confinement),
    firstSeen: row.first_seen,
    lastSeen: row.last_seen,
    removedAt: row.removed_at,
  };
}

/** Agents known to the broker and their registration state, persisted so a restart loses nothing. */
export class AgentRegistry {
  readonly #get;
  readonly #insert;
  readonly #seen;
  readonly #pageAll;
  readonly #pageStatus;
  readonly #setStatus;
  readonly #touchAll;
  readonly #relaxed;
  readonly #countPending;
  readonly #removePending;
  readonly #hide;
  /** last_seen of agents that reconnected unchanged, not written yet: a reconnect storm costs no disk write per agent. */
  readonly #lastSeen = new Map<string, number>();
  /** Rows read at every handshake and dispatch; each write below drops the agent's entry (never refills it, so a rolled-back write cannot stay cached). */
  readonly #rows = new Map<string, AgentRow>();

  constructor(private readonly db: BrokerDatabase) {
    this.#get = db.prepare<[string], AgentRow>('SELECT * FROM agents WHERE did = ?');
    this.#insert = db.prepare(
      `INSERT INTO agents (did, id_b64, name, requested, confinement, status, first_seen, last_seen)
       VALUES (@did, @id_b64, @name, @requested, @confinement, 'pending', @now, @now)`,
    );
    this.#seen = db.prepare('UPDATE agents SET last_seen = @now, name = @name, requested = @requested, confinement = @confinement WHERE did = @did');
    const page = (where: string) =>
      db.prepare<[Record<string, unknown>], AgentRow & Keyed>(
        `SELECT *, first_seen AS page_key, rowid AS page_rowid FROM agents
         WHERE ${where} (first_seen, rowid) > (@key, @rowid) ORDER BY first_seen, rowid LIMIT @limit`,
      );
    this.#pageAll = page('removed_at IS NULL AND');
    this.#pageStatus = page('status = @status AND removed_at IS NULL AND');
    this.#setStatus = db.prepare('UPDATE agents SET status = @status, status_reason = @reason WHERE did = @did');
    const touch = db.prepare<[number, string]>('UPDATE agents SET last_seen = ? WHERE did = ?');
    this.#touchAll = db.transaction((seen: Map<string, number>) => {
      for (const [did, at] of seen) {
        this.#rows.delete(did);
        touch.run(at, did);
      }
    });
    this.#relaxed = relaxedWrites(db);
    this.#countPending = db.prepare<[], { n: number }>("SELECT count(*) AS n FROM agents WHERE status = 'pending'");
    // A pending agent has no policy, intent or token row (all need approval first): nothing references it.
    this.#removePending = db.prepare<[number], { did: string; name: string }>(
      "DELETE FROM agents WHERE status = 'pending' AND first_seen <= ? RETURNING did, name",
    );
    // Only an agent that can never run again leaves the lists; the status in the WHERE makes that hold even for a caller that did not check.
    this.#hide = db.prepare<[Record<string, unknown>]>("UPDATE agents SET removed_at = @now WHERE did = @did AND status IN ('revoked','rejected') AND removed_at IS NULL");
  }

  /** Takes a revoked or rejected agent out of the lists; its row stays, so its key stays refused. False if it was not such an agent. */
  hide(did: string, now: number): boolean {
    this.#rows.delete(did);
    return this.#hide.run({ did, now }).changes === 1;
  }

  /** How many registrations await a decision. */
  countPending(): number {
    return this.#countPending.get()!.n;
  }

  /** Removes the pending registrations first seen at or before `firstSeenBy`; returns them. */
  removePendingSeenBy(firstSeenBy: number): { did: string; name: string }[] {
    const removed = this.#removePending.all(firstSeenBy);
    for (const { did } of removed) {
      this.#rows.delete(did);
      this.#lastSeen.delete(did);
    }
    return removed;
  }

  get(did: string): AgentRecord | undefined {
    const row = this.#row(did);
    return row ? this.#record(row) : undefined;
  }

  /** Only known agents are kept: asking about unknown ids cannot grow the cache. */
  #row(did: string): AgentRow | undefined {
    const row = this.#rows.get(did) ?? this.#get.get(did);
    if (row) this.#rows.set(did, row);
    return row;
  }

  /** One page of agents (of one registration status, if given), first seen first, each as `view` makes it. */
  page<T>(status: RegistrationStatus | undefined, page: PageRequest, view: (r: AgentRecord) => T): Page<T> {
    const order = { ...page, order: 'oldest-first' } as const;
    const item = (row: AgentRow) => view(this.#record(row));
    return status ? readPage(this.#pageStatus, { status }, order, item) : readPage(this.#pageAll, {}, order, item);
  }

  /**
   * Writes the last_seen times kept in memory, in one transaction (the broker
   * calls it periodically and at shutdown). Relaxed: a time lost with a power
   * cut only makes an agent look seen a little earlier.
   */
  flushLastSeen(): void {
    if (this.#lastSeen.size === 0) return;
    this.#relaxed(() => this.#touchAll(this.#lastSeen));
    this.#lastSeen.clear();
  }

  #record(row: AgentRow): AgentRecord {
    const record = toRecord(row);
    const seen = this.#lastSeen.get(row.did);
    return seen === undefined ? record : { ...record, lastSeen: Math.max(seen, record.lastSeen) };
  }

  setStatus(did: string, status: RegistrationStatus, reason: string | null): void {
    this.#rows.delete(did);
    this.#setStatus.run({ did, status, reason });
  }

  /**
   * Records that an agent proved its id: an unknown one becomes a pending
   * registration (`created`); a known one keeps its status (rejection and
   * revocation are sticky). Its stated confinement is kept too, so the views
   * show the last report while it is offline or after a broker restart.
   */
  recordSeen(did: string, idBase64: string, hello: AgentHello, now: number): { record: AgentRecord; created: boolean } {
    const confinement = hello.confinement ? JSON.stringify(hello.confinement) : null;
    const params = { did, id_b64: idBase64, name: hello.name, requested: JSON.stringify(hello.requested), confinement, now };
    const known = this.#row(did);
    if (known && known.name === params.name && known.requested === params.requested && known.confinement === params.confinement) {
      this.#lastSeen.set(did, now);
      return { record: this.#record(known), created: false };
    }
    this.#rows.delete(did);
    if (known) this.#seen.run(params);
    else this.#insert.run(params);
    this.#lastSeen.delete(did);
    return { record: this.get(did)!, created: !known };
  }

  /** Runs `fn` as one transaction: the writes of one decision cost one commit. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }
}
