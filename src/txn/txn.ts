// Transactions (docs/DESIGN.md §Transactions and concurrency).
//
// A write transaction reads the snapshot it began at plus its own changes: every page it
// changes is a private copy (FilePages). At commit the environment logs the changed pages and
// installs them atomically (synchronously, so no other commit interleaves). If another
// transaction committed since this one began, its private pages are stale: the commit replays
// the transaction's operations onto the current state instead (each write is recorded as a
// closure for that purpose), so commits never lose each other's changes.
//
// A transaction that READ from a data file that another transaction changed meanwhile cannot
// be replayed safely (what it read may be stale: a lost update); its commit fails with
// CONFLICT instead, and env.transaction() runs the callback again. Blind writes never conflict.
//
// A read-only transaction is just a registered snapshot.

import { FilePages, type DataFile, type Pager, SnapshotReader } from '../page/pager.js';
import type { PageReader } from '../page/store.js';
import type { Dirty } from '../page/ranges.js';
import { CairnError } from '../util/errors.js';
import { type Hold, letGo, newHold } from './forgotten.js';

/**
 * The id of a checkpoint's internal transaction, which sets needsLog in every data file's meta
 * page (docs/DESIGN.md §Checkpoints); user transactions are numbered from 1. Not a user commit:
 * recovery, db_printlog and db_stat do not count it.
 */
export const INTERNAL_TXN = 0;

/**
 * When a commit's promise resolves (README §Durability): `'sync'` after the log is written and
 * fdatasync'd (survives a power loss); `'write-nosync'` after the log is handed to the OS
 * (survives `kill -9`, not a power loss); `'nosync'` while it is still in cairn's buffer.
 */
export type Durability = 'sync' | 'write-nosync' | 'nosync';

/** @internal */
export const DURABILITIES: readonly Durability[] = ['sync', 'write-nosync', 'nosync'];

/** @internal */
export interface TxnHost {
  /** Commits synchronously up to the install; a promise only when the commit must still wait. */
  commitTxn(txn: Transaction, durability: Durability | undefined): Promise<void> | undefined;
  endTxn(txn: Transaction): void;
}

/** @internal */
export type TxnOp = (txn: Transaction) => void;

/** @internal A transaction's private pages in one file, with the changed ranges the B-tree reports (src/btree/ranges.ts). */
export class TxnPages extends FilePages {
  readonly ranges = new Map<number, Dirty>();
}

/**
 * A transaction: from `env.begin()` (or the `txn` that `env.transaction(fn)` passes to `fn`).
 * It reads the snapshot it began at plus its own writes; `commit()` applies its writes
 * atomically and resolves when they are durable, `abort()` drops them. A read-only one
 * (`begin({ readOnly: true })`) is a snapshot for reads until `abort()`.
 */
export class Transaction {
  /** Made by `begin({ readOnly: true })`: writes through it throw `READ_ONLY`. */
  readonly readOnly: boolean;
  /** Durability chosen at begin (undefined: the environment's). */
  readonly durability: Durability | undefined;
  /** @internal The snapshot this transaction reads at, released once (also when the transaction is forgotten: forgotten.ts). */
  readonly hold: Hold;
  /** @internal Snapshot sequence this transaction reads at. */
  get seq(): number {
    return this.hold.seq;
  }
  /** @internal */
  set seq(seq: number) {
    this.hold.seq = seq;
  }
  /** @internal Read `active` instead. */
  state: 'active' | 'committing' | 'committed' | 'aborted' = 'active';
  /** @internal Private pages per data file. */
  files = new Map<DataFile, TxnPages>();
  /** @internal The writes, in order, for replay at commit. */
  readonly ops: TxnOp[] = [];
  /** @internal Data files this transaction creates (logged as file_create before their pages). */
  readonly newFiles: DataFile[] = [];
  /** @internal Data files removed or renamed when this transaction commits. */
  readonly fileOps: Array<{ kind: 'remove' | 'rename'; file: DataFile; newName?: string; newPath?: string }> = [];
  private readonly pager: Pager;
  private readonly host: TxnHost;
  private readers = new Map<DataFile, PageReader>();
  private released = false;

  /** @internal Use env.begin(). */
  constructor(pager: Pager, host: TxnHost, options: { readOnly?: boolean; durability?: Durability }) {
    this.pager = pager;
    this.host = host;
    this.readOnly = options.readOnly ?? false;
    this.durability = options.durability;
    this.hold = newHold(pager, pager.openSnapshot());
  }

  /** True until the transaction commits or aborts (a committing one is no longer active). */
  get active(): boolean {
    return this.state === 'active';
  }

  /** @internal Throws TXN_STATE unless active. */
  checkActive(): void {
    if (this.state !== 'active') throw new CairnError('TXN_STATE', `the transaction is already ${this.state}; begin a new one`);
    this.pager.checkSnapshot(this.seq);
  }

  /** @internal Data files this transaction read from (for conflict checks at commit). */
  readonly readFiles = new Set<DataFile>();

  /** @internal Pages of `file` as this transaction sees them (read path). */
  reader(file: DataFile): PageReader {
    this.readFiles.add(file);
    const own = this.files.get(file);
    if (own !== undefined) return own;
    let r = this.readers.get(file);
    if (r === undefined) {
      r = new SnapshotReader(this.pager, file, this.seq);
      this.readers.set(file, r);
    }
    return r;
  }

  /** @internal Pages of `file` for changing (write path). */
  writer(file: DataFile): TxnPages {
    if (this.readOnly) throw new CairnError('READ_ONLY', 'this transaction is read-only; begin one without { readOnly: true } to write');
    let w = this.files.get(file);
    if (w === undefined) {
      w = new TxnPages(this.pager, file, this.seq);
      this.files.set(file, w);
    }
    return w;
  }

  /** @internal Runs a write now and records it for replay. */
  apply(op: TxnOp): void {
    this.checkActive();
    op(this);
    this.ops.push(op);
  }

  /** True when the transaction has written something (a commit would log it). */
  get hasChanges(): boolean {
    if (this.newFiles.length > 0 || this.fileOps.length > 0) return true;
    for (const w of this.files.values()) if (w.changed.size > 0) return true;
    return false;
  }

  /**
   * @internal
   * Whether the private pages can be installed as they are although other transactions
   * committed since this one began: no page it changed was changed by them (each is still the
   * committed version it was copied from; new pages came from the end of the file, whose meta
   * page is unchanged), and no data file was created, removed or renamed. A B-tree write changes
   * the pages that hold its result (leaf, and on a split the parent and the meta page), so
   * replaying the operations on the current state would produce the same pages: the rebase
   * (copy + replay of every page) is skipped. Only for transactions that read nothing (the
   * caller has already refused those with CONFLICT when needed).
   */
  pagesStillCurrent(): boolean {
    if (this.newFiles.length > 0 || this.fileOps.length > 0) return false;
    for (const [file, fp] of this.files) {
      if (file.removed || !fp.basesCurrent()) return false;
    }
    return true;
  }

  /**
   * @internal
   * Rebases the transaction onto the current state: discards private pages and replays its
   * operations. Called by the environment at commit when another commit came in between.
   */
  rebase(): void {
    this.pager.releaseSnapshot(this.seq);
    this.seq = this.pager.openSnapshot();
    // The private pages thrown away are spares for the replay (nothing else ever had them; the
    // transaction's cursors refuse to step once it is no longer active).
    for (const fp of this.files.values()) fp.discard();
    this.files = new Map();
    this.readers = new Map();
    for (const op of this.ops) op(this);
  }

  /**
   * Commits: the writes become visible to later reads at once, and the promise resolves when
   * they are durable per `durability` (default: the transaction's, then the environment's).
   * Rejects with `CONFLICT` when the transaction read data that a concurrent commit changed (run
   * it again; `env.transaction(fn)` does so itself) and `TXN_STATE` when it is not active.
   */
  async commit(options?: { durability?: Durability | undefined }): Promise<void> {
    const wait = this.commitNow(options?.durability);
    if (wait !== undefined) await wait;
  }

  /**
   * @internal
   * commit() without its promise when none is needed: the commit runs synchronously up to its
   * install and returns a promise only if it must still wait for durability (else undefined).
   * Throws synchronously when the commit fails before the install.
   */
  commitNow(durability?: Durability): Promise<void> | undefined {
    this.checkActive();
    this.state = 'committing';
    try {
      return this.host.commitTxn(this, durability ?? this.durability);
    } finally {
      // The host ends a transaction it installed; this ends one that failed or had nothing to do.
      if (this.state === 'committing') this.state = 'aborted';
      this.host.endTxn(this);
    }
  }

  /**
   * Discards the changes (nothing was logged or written) and releases the snapshot. On a
   * transaction that already ended — committed or aborted — it does nothing (documented: a
   * `finally { txn.abort() }` after a successful commit changes nothing).
   */
  abort(): void {
    if (this.state !== 'active') return;
    this.state = 'aborted';
    this.host.endTxn(this);
  }

  /**
   * @internal
   * Releases the snapshot and private pages (idempotent); the host calls it when the transaction
   * ends. An aborted transaction's private pages were never installed: they go back to the
   * pager's spares (its cursors and readers refuse to step: Database.check, checkTxn).
   */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (letGo(this.hold)) this.pager.releaseSnapshot(this.seq);
    if (this.state === 'aborted') for (const fp of this.files.values()) fp.discard();
    this.files.clear();
    this.readers.clear();
  }
}
