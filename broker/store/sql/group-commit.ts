import { CompiledQuery, type Transaction } from 'kysely';
import { BUDGETS } from '../../../core/budgets';
import { storageFailure } from '../../../core/storage/storage-failure';
import type { Storage, TransactionOptions } from './storage';
import type { BrokerTables } from './tables';

export type GroupedWrite<T> = (trx: Transaction<BrokerTables>) => Promise<T>;

interface Waiting {
  write: GroupedWrite<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

const SAVEPOINT = CompiledQuery.raw('SAVEPOINT grouped_write');
const RELEASE = CompiledQuery.raw('RELEASE grouped_write');
const ROLLBACK_TO = CompiledQuery.raw('ROLLBACK TO grouped_write');

/**
 * Group commit: writes that arrive together run in ONE transaction, at most BUDGETS.writesPerGroupCommit of them;
 * each caller's promise settles only after that transaction has committed, so nothing is acknowledged before it is
 * stored, as with a transaction of its own. What a commit costs the broker (BEGIN, COMMIT and its WAL pages, the
 * durability pragma, Kysely's transaction) is paid once per group instead of once per write.
 *
 * A group gathers until a turn of the event loop ends with no new write (an idle broker commits at the next turn,
 * as soon as it could otherwise), or for at most BUDGETS.groupCommitTurns turns while writes keep coming: a loaded
 * broker takes its JSON-RPC requests one per turn (vscode-jsonrpc's message queue), so a group of one turn would
 * hold about one dispatch.
 *
 * Groups commit one after the other, in the order their writes were asked for, so two writes of one caller keep
 * their order. Within a group each write runs inside a savepoint: a write that fails (a bad row: a constraint, a
 * duplicate id) is rolled back alone and fails only its caller. A storage failure (the disk full, the database
 * unreachable: storageFailure) is the database's, not the row's: the whole group is rolled back and every caller
 * fails with that same error, as does every caller of a group whose COMMIT fails.
 */
export class GroupCommit {
  readonly #storage: Storage;
  readonly #options: TransactionOptions;
  #queue: Waiting[] = [];
  /** A group is gathering or committing: writes asked for now join it, or the next one. */
  #busy = false;
  /** Turns the gathering group has waited, and the writes queued at the last one. */
  #turns = 0;
  #seen = 0;
  /** Callers of settled() waiting for the queue to empty. */
  #settled: (() => void)[] = [];

  constructor(storage: Storage, options: TransactionOptions) {
    this.#storage = storage;
    this.#options = options;
  }

  /** Runs `write` in the next group's transaction; settles once that transaction committed (or failed). */
  run<T>(write: GroupedWrite<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ write, resolve: resolve as (value: unknown) => void, reject });
      this.#schedule();
    });
  }

  /** Resolves once every write asked for so far has committed or failed: the storage may then close under none. */
  settled(): Promise<void> {
    if (!this.#busy) return Promise.resolve();
    return new Promise((resolve) => this.#settled.push(resolve));
  }

  #schedule(): void {
    if (this.#busy) return;
    this.#busy = true;
    this.#turns = 0;
    this.#seen = this.#queue.length;
    setImmediate(this.#turn);
  }

  readonly #turn = (): void => {
    this.#turns++;
    const gathering = this.#queue.length > this.#seen && this.#queue.length < BUDGETS.writesPerGroupCommit.limit && this.#turns < BUDGETS.groupCommitTurns.limit;
    this.#seen = this.#queue.length;
    if (gathering) setImmediate(this.#turn);
    else void this.#flush();
  };

  /** Never rejects: every outcome goes to the callers. */
  async #flush(): Promise<void> {
    const group = this.#queue.splice(0, BUDGETS.writesPerGroupCommit.limit);
    await this.#commit(group);
    this.#busy = false;
    if (this.#queue.length > 0) return this.#schedule();
    for (const resolve of this.#settled.splice(0)) resolve();
  }

  async #commit(group: Waiting[]): Promise<void> {
    const outcomes: Outcome[] = [];
    try {
      await this.#storage.transaction(async (trx) => {
        // Alone in its group, a write fails its transaction as it would with one of its own: no savepoint needed.
        if (group.length === 1) outcomes.push({ ok: true, value: await group[0]!.write(trx) });
        else for (const waiting of group) outcomes.push(await isolated(trx, waiting.write));
      }, this.#options);
    } catch (error) {
      for (const waiting of group) waiting.reject(error);
      return;
    }
    group.forEach((waiting, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) waiting.resolve(outcome.value);
      else waiting.reject(outcome.error);
    });
  }
}

/** One write of a group in a savepoint: its failure undone alone, unless the database itself failed (then thrown). */
async function isolated(trx: Transaction<BrokerTables>, write: GroupedWrite<unknown>): Promise<Outcome> {
  await trx.executeQuery(SAVEPOINT);
  let value: unknown;
  try {
    value = await write(trx);
  } catch (error) {
    if (storageFailure(error) !== undefined) throw error;
    try {
      await trx.executeQuery(ROLLBACK_TO);
      await trx.executeQuery(RELEASE);
    } catch {
      // The transaction itself is gone (SQLite rolled it back): the write's error says why, for the whole group.
      throw error;
    }
    return { ok: false, error };
  }
  await trx.executeQuery(RELEASE);
  return { ok: true, value };
}
