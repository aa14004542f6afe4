// Running functions in transactions (env.transaction, and the auto-commit of a write made without
// a transaction): commit when fn returns, abort when it throws, run fn again on CONFLICT — the
// retries one at a time, so that contenders make progress.

import type { Durability, Transaction } from '../txn/txn.js';
import { CairnError, invalid } from '../util/errors.js';
import { ENV_DEFAULTS } from './options.js';

/** What the runner needs from the environment. */
export interface RunnerHost {
  startTxn(options: { readOnly?: boolean | undefined; durability?: Durability | undefined }, weakly: boolean): Transaction;
}

export class TxnRunner {
  /** Callbacks of env.transaction running now (a nested call is refused). */
  private inCallback = 0;

  constructor(private readonly host: RunnerHost) {}

  async transaction<T>(fn: (txn: Transaction) => T | Promise<T>, options: { durability?: Durability | undefined; readOnly?: boolean | undefined; retries?: number | undefined } = {}): Promise<T> {
    if (this.inCallback > 0) {
      // An inner transaction would commit on its own and the outer one then overwrite it.
      throw invalid('env.transaction() was called inside another env.transaction() callback; use the outer callback\'s transaction (pass it to get/put/del) instead of nesting');
    }
    const retries = options.retries ?? ENV_DEFAULTS.retries;
    for (let attempt = 0; ; attempt++) {
      // After a conflict, attempts run one at a time, so that contenders make progress.
      const release = attempt > 0 ? await this.retryTurn() : undefined;
      try {
        return await this.attempt(fn, options);
      } catch (e) {
        if (!(e instanceof CairnError && e.code === 'CONFLICT') || attempt >= retries) throw e;
      } finally {
        release?.();
      }
    }
  }

  private retryQueue: Promise<void> = Promise.resolve();

  private async retryTurn(): Promise<() => void> {
    let release!: () => void;
    const turn = new Promise<void>((r) => (release = r));
    const before = this.retryQueue;
    this.retryQueue = before.then(() => turn);
    await before;
    return release;
  }

  private async attempt<T>(fn: (txn: Transaction) => T | Promise<T>, options: { durability?: Durability; readOnly?: boolean }): Promise<T> {
    const txn = this.host.startTxn(options, false);
    let result: T;
    try {
      let r: T | Promise<T>;
      this.inCallback++;
      try {
        r = fn(txn);
      } finally {
        this.inCallback--;
      }
      // A synchronous callback commits in the same turn: nothing can interleave (no conflict).
      result = r instanceof Promise ? await r : r;
    } catch (e) {
      txn.abort();
      throw e;
    }
    if (txn.active) {
      // Straight into the commit path: a commit that need not wait (relaxed, or a lone committer's
      // flush done in commitTxn) returns no promise, so no promise hop is added here.
      const wait = txn.commitNow();
      if (wait !== undefined) await wait;
    }
    return result;
  }

  /** @internal */
  autoCommit<T>(fn: (txn: Transaction) => T): Promise<T> {
    const txn = this.host.startTxn({}, false);
    let result: T;
    try {
      result = fn(txn);
    } catch (e) {
      txn.abort();
      throw e;
    }
    return txn.commit().then(() => result);
  }
}
