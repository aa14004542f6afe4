// Snapshots whose holder was forgotten (F15; docs/DESIGN.md §Transactions and concurrency): a
// transaction from env.begin() never committed or aborted, an iterator or cursor dropped before
// its end. Each holder is registered with a FinalizationRegistry; once the garbage collector
// finds it unreachable, its snapshot is released as if it had ended, so the older page versions
// it kept (Pager history) can go. The held value (a Hold) never references the holder, and the
// release may run at any time later: after the holder ended normally (`done`), after the
// environment closed, or after the snapshot was invalidated for being too old (Pager.tooOld).

import type { Pager } from '../page/pager.js';

/** One holder's snapshot: what releasing it takes. */
export interface Hold {
  readonly pager: Pager;
  /** The snapshot sequence held (-1: none yet). */
  seq: number;
  /** Released already (by its holder, or here). */
  done: boolean;
  /** Registered with the registry (unregistered when the holder releases it). */
  watched: boolean;
  /** Run when the holder was reclaimed unreleased (the environment forgets a transaction). */
  lost?: () => void;
}

function reclaim(h: Hold): void {
  if (h.done) return;
  h.done = true;
  h.lost?.();
  if (h.seq >= 0) {
    h.pager.snapshotStats.reclaimed++;
    h.pager.releaseSnapshot(h.seq);
  }
}

const registry = new FinalizationRegistry<Hold>(reclaim);

export function newHold(pager: Pager, seq = -1): Hold {
  return { pager, seq, done: false, watched: false };
}

/** Releases `hold`'s snapshot once `owner` is garbage collected, unless its holder released it first (letGo). */
export function watch(owner: object, hold: Hold): void {
  hold.watched = true;
  registry.register(owner, hold, hold);
}

/** The holder releases its snapshot: true when the caller is to release `hold.seq` (not released before). */
export function letGo(hold: Hold): boolean {
  if (hold.done) return false;
  hold.done = true;
  if (hold.watched) registry.unregister(hold);
  return true;
}

/**
 * The environment's active transactions. Those from env.begin() are held weakly (a caller may
 * forget one: the registry then releases it and `forget` drops it here); those of
 * env.transaction() and auto-commits strongly (their caller always ends them).
 */
export class ActiveTxns<T extends { readonly readOnly: boolean; readonly seq: number; readonly hold: Hold }> {
  private readonly strong = new Set<T>();
  private readonly weak = new Map<Hold, WeakRef<T>>();

  add(txn: T, weakly: boolean): void {
    if (!weakly) {
      this.strong.add(txn);
      return;
    }
    // The closure may reference the hold, never the transaction (the registry holds it strongly).
    const hold = txn.hold;
    this.weak.set(hold, new WeakRef(txn));
    hold.lost = () => this.weak.delete(hold);
    watch(txn, hold);
  }

  has(txn: T): boolean {
    return this.strong.has(txn) || this.weak.get(txn.hold)?.deref() === txn;
  }

  delete(txn: T): boolean {
    return this.strong.delete(txn) || this.weak.delete(txn.hold);
  }

  get size(): number {
    return this.strong.size + this.weak.size;
  }

  [Symbol.iterator](): Iterator<T> {
    // The common case (no env.begin() transaction open) without a generator: the commit path
    // iterates this at every commit and flush.
    return this.weak.size === 0 ? this.strong.values() : this.all();
  }

  private *all(): Generator<T> {
    yield* this.strong;
    for (const r of this.weak.values()) {
      const t = r.deref();
      if (t !== undefined) yield t;
    }
  }
}
