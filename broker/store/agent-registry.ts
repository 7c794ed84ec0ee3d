import { sql, type Selectable } from 'kysely';
import { Confinement, type AgentHello, type RegistrationStatus } from '../../core/wire/policy';
import { keysetRows, readPage } from './keyset-page';
import type { PolicyChoice, PolicyStore } from './policy-store';
import { nulFree } from './sql/stored-text';
import { RowCache } from './row-cache';
import type { Storage } from './sql/storage';
import type { AgentsTable } from './sql/tables';
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

const COLUMNS = ['did', 'id_b64', 'name', 'requested', 'status', 'status_reason', 'confinement', 'first_seen', 'last_seen', 'removed_at'] as const;
type AgentRow = Pick<Selectable<AgentsTable>, (typeof COLUMNS)[number]>;

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

type Decision = { status: 'approved'; policies: PolicyStore; policy: PolicyChoice; now: number } | { status: 'rejected'; reason: string };

/**
 * `seen` as a table seen(did, at), in a fixed number of parameters however many agents it holds (both engines cap
 * the parameters of one statement): two arrays on PostgreSQL, one JSON text on SQLite.
 */
function seenTimes(dialect: Storage['dialect'], seen: readonly (readonly [string, number])[]) {
  const table =
    dialect === 'postgres'
      ? sql<{ did: string; at: number }>`unnest(${seen.map(([did]) => did)}::text[], ${seen.map(([, at]) => at)}::bigint[])`
      : sql<{ did: string; at: number }>`(SELECT json_extract(value, '$[0]') AS did, json_extract(value, '$[1]') AS at FROM json_each(${JSON.stringify(seen)}))`;
  return table.as<'seen'>(dialect === 'postgres' ? sql`seen(did, at)` : sql`seen`);
}

/** Agents known to the broker and their registration state, persisted so a restart loses nothing. */
export class AgentRegistry {
  /** last_seen of agents that reconnected unchanged, not written yet: a reconnect storm costs no disk write per agent. */
  readonly #lastSeen = new Map<string, number>();
  /** Rows read at every handshake and dispatch; every write below goes through it. */
  readonly #rows: RowCache<AgentRow>;

  constructor(private readonly storage: Storage) {
    this.#rows = new RowCache(storage);
  }

  /** Takes a revoked or rejected agent out of the lists; its row stays, so its key stays refused. False if it was not such an agent. */
  async hide(did: string, now: number): Promise<boolean> {
    // Only an agent that can never run again leaves the lists; the status in the WHERE makes that hold even for a caller that did not check.
    const { numUpdatedRows } = await this.#rows.write(did, () =>
      this.storage.db
        .updateTable('agents')
        .set({ removed_at: now })
        .where('did', '=', did)
        .where('status', 'in', ['revoked', 'rejected'])
        .where('removed_at', 'is', null)
        .executeTakeFirst(),
    );
    return numUpdatedRows === 1n;
  }

  /** How many agents the lists show in each registration status (a gauge for the metrics listener). */
  async countByStatus(): Promise<{ status: RegistrationStatus; n: number }[]> {
    return this.storage.db
      .selectFrom('agents')
      .select((eb) => ['status', eb.fn.countAll<number>().as('n')])
      .where('removed_at', 'is', null)
      .groupBy('status')
      .execute();
  }

  /** How many registrations await a decision. */
  async countPending(): Promise<number> {
    const { n } = await this.storage.db
      .selectFrom('agents')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('status', '=', 'pending')
      .executeTakeFirstOrThrow();
    return n;
  }

  /** Removes the pending registrations first seen at or before `firstSeenBy`; returns them. */
  async removePendingSeenBy(firstSeenBy: number): Promise<{ did: string; name: string }[]> {
    // A pending agent has no policy, intent or token row (all need approval first): nothing references it.
    const remove = () => this.storage.db.deleteFrom('agents').where('status', '=', 'pending').where('first_seen', '<=', firstSeenBy).returning(['did', 'name']).execute();
    const removed = await this.#rows.write([], remove);
    this.#rows.forget(removed.map((r) => r.did));
    for (const { did } of removed) this.#lastSeen.delete(did);
    return removed;
  }

  async get(did: string): Promise<AgentRecord | undefined> {
    return this.#read(did);
  }

  async #read(did: string): Promise<AgentRecord | undefined> {
    const row = await this.#row(did);
    return row ? this.#record(row) : undefined;
  }

  #row(did: string): Promise<AgentRow | undefined> {
    return this.#rows.read(did, () => this.storage.db.selectFrom('agents').select(COLUMNS).where('did', '=', did).executeTakeFirst());
  }

  /** One page of agents (of one registration status, if given), first seen first, each as `view` makes it. */
  async page<T>(status: RegistrationStatus | undefined, page: PageRequest, view: (r: AgentRecord) => T | Promise<T>): Promise<Page<T>> {
    const all = this.storage.db.selectFrom('agents').select(COLUMNS).where('removed_at', 'is', null);
    const rows = keysetRows(status ? all.where('status', '=', status) : all, 'first_seen', 'oldest-first');
    return readPage(rows, { ...page, order: 'oldest-first' }, (row) => view(this.#record(row)));
  }

  /**
   * Writes the last_seen times kept in memory, in one statement (the broker calls it periodically and at shutdown):
   * after a reconnect storm of thousands of agents, a statement per agent would hold a PostgreSQL connection, and
   * the agent rows dispatches lock, for a round trip each. Relaxed: a time lost with a power cut only makes an agent
   * look seen a little earlier.
   */
  async flushLastSeen(): Promise<void> {
    if (this.#lastSeen.size === 0) return;
    const seen = [...this.#lastSeen];
    await this.#rows.write(
      seen.map(([did]) => did),
      () =>
        this.storage.transaction(
          (trx) =>
            trx
              .updateTable('agents')
              .from(seenTimes(this.storage.dialect, seen))
              .set((eb) => ({ last_seen: eb.ref('seen.at') }))
              .whereRef('agents.did', '=', 'seen.did')
              // Never backwards: a changed hello written meanwhile carries a later time.
              .whereRef('agents.last_seen', '<', 'seen.at')
              .execute(),
          { relaxed: true },
        ),
    );
    // A time that moved on while this was written stays for the next flush.
    for (const [did, at] of seen) if (this.#lastSeen.get(did) === at) this.#lastSeen.delete(did);
  }

  #record(row: AgentRow): AgentRecord {
    const record = toRecord(row);
    const seen = this.#lastSeen.get(row.did);
    return seen === undefined ? record : { ...record, lastSeen: Math.max(seen, record.lastSeen) };
  }

  async setStatus(did: string, status: RegistrationStatus, reason: string | null): Promise<void> {
    const status_reason = reason === null ? null : nulFree('a status reason', reason);
    await this.#rows.write(did, () => this.storage.db.updateTable('agents').set({ status, status_reason }).where('did', '=', did).execute());
  }

  /**
   * Records that an agent proved its id: an unknown one becomes a pending
   * registration (`created`); a known one keeps its status (rejection and
   * revocation are sticky). Its stated confinement is kept too, so the views
   * show the last report while it is offline or after a broker restart.
   */
  async recordSeen(did: string, idBase64: string, hello: AgentHello, now: number): Promise<{ record: AgentRecord; created: boolean }> {
    const stated = {
      name: nulFree('an agent name', hello.name),
      requested: JSON.stringify(hello.requested),
      confinement: hello.confinement ? JSON.stringify(hello.confinement) : null,
    };
    const known = await this.#row(did);
    if (known && known.name === stated.name && known.requested === stated.requested && known.confinement === stated.confinement) {
      this.#lastSeen.set(did, now);
      return { record: this.#record(known), created: false };
    }
    const created = await this.#rows.write(did, async () => {
      if (!known) {
        // Two handshakes of one new agent at once: the key decides which one creates the registration.
        const { numInsertedOrUpdatedRows } = await this.storage.db
          .insertInto('agents')
          .values({ did, id_b64: idBase64, ...stated, status: 'pending', first_seen: now, last_seen: now })
          .onConflict((oc) => oc.column('did').doNothing())
          .executeTakeFirst();
        if (numInsertedOrUpdatedRows === 1n) return true;
      }
      await this.storage.db.updateTable('agents').set({ ...stated, last_seen: now }).where('did', '=', did).execute();
      return false;
    });
    this.#lastSeen.delete(did);
    return { record: (await this.#read(did))!, created };
  }

  /**
   * Ends a pending registration as `status` ('approved' with its first policy, written in the same transaction, or
   * 'rejected'). False, nothing written, if it was no longer pending: exactly one of concurrent decisions wins.
   */
  async decidePending(did: string, decision: Decision): Promise<boolean> {
    const status_reason = decision.status === 'rejected' ? nulFree('a status reason', decision.reason) : null;
    const decide = () =>
      this.storage.transaction(async (trx) => {
        // The status in the WHERE is the check: of two admins deciding one registration at once, one statement changes
        // it (on PostgreSQL the second waits for the first's row lock, then finds it no longer pending).
        const { numUpdatedRows } = await trx
          .updateTable('agents')
          .set({ status: decision.status, status_reason })
          .where('did', '=', did)
          .where('status', '=', 'pending')
          .executeTakeFirst();
        if (numUpdatedRows !== 1n) return false;
        if (decision.status === 'approved') await decision.policies.setIn(trx, did, decision.policy, decision.now);
        return true;
      });
    return this.#rows.write(did, () => (decision.status === 'approved' ? decision.policies.writing(did, decide) : decide()));
  }

  /** Revokes an agent not already revoked or rejected; false (nothing written) if it was. */
  async revoke(did: string, reason: string): Promise<boolean> {
    const status_reason = nulFree('a status reason', reason);
    const { numUpdatedRows } = await this.#rows.write(did, () =>
      this.storage.db.updateTable('agents').set({ status: 'revoked', status_reason }).where('did', '=', did).where('status', 'not in', ['revoked', 'rejected']).executeTakeFirst(),
    );
    return numUpdatedRows === 1n;
  }
}
