// Changed ranges of a transaction's private page copies (docs/DESIGN.md §Transactions, "changed
// ranges"): the B-tree reports which bytes of a page it wrote, so that the commit path encodes a
// page_delta from those bytes instead of comparing the whole page with its committed version.
//
// Each writer that supports it (a transaction's pages: src/txn/txn.ts TxnPages; MemStore) keeps
// its trackers by page number in `ranges`. A page is tracked in blocks (64 bytes for pages up to
// 4 KiB; 1/64 of the page above), at most 64 of them, as a bitmap in two 32-bit words. A page whose changes are not reported range by
// range is `whole`: the commit path diffs all of it, exactly as it did before ranges existed.
//
// Safety rule (what makes a range-built delta complete): a page is tracked by ranges only from
// the moment `track` makes it a fresh private copy of its committed version (so every byte is
// equal to the base then); every later write into it goes through code that reports it; and
// every other way the B-tree obtains the page for writing (`writableWhole`) marks it whole. A
// private page that was already changed before it was tracked (by the pager's allocate/free,
// the environment's meta-page writes, or a B-tree path that does not report ranges) is whole.
// `src/btree/ranges.test.ts` checks the deltas against a full diff over random B-tree operations,
// and `deltaCheck.on` (CAIRN_CHECKS=deltas: util/checks.ts) makes every commit check its range-built deltas so.

import { checks } from '../util/checks.js';
import type { PageWriter } from './store.js';
import { diffInto } from './delta.js';
import { PageOffset } from './format.js';
import { assert } from '../util/assert.js';

export class Dirty {
  /** Blocks 0..31 and 32..63 changed (bit i = block i). */
  lo = 0;
  hi = 0;
  constructor(
    readonly page: Buffer,
    /** log2 of the block size. */
    readonly shift: number,
    /** Changes not reported by range: the whole page must be diffed. */
    public whole: boolean,
  ) {}

  /** Bytes [from, to) of the page were (or may have been) written. */
  mark(from: number, to: number): void {
    if (this.whole || to <= from) return;
    const s = this.shift;
    let b = from >>> s;
    const e = (to - 1) >>> s;
    for (; b <= e && b < 32; b++) this.lo |= 1 << b;
    for (; b <= e; b++) this.hi |= 1 << (b - 32);
  }

  /** The whole page counts as changed (a write too diffuse to report by range). */
  markAll(): void {
    this.whole = true;
  }
}

function shiftFor(pageSize: number): number {
  let s = 6;
  while (pageSize >>> s > 64) s++;
  return s;
}

/**
 * The page made writable for changes the caller reports through the returned tracker (its
 * `page`). A fresh private copy starts with no changed range; a page that was already private
 * keeps its tracker, or is whole when it has none (changed by something that reports nothing).
 * A writer without `ranges` gets a whole tracker (its pages are always diffed whole).
 */
export function track(w: PageWriter, pgno: number): Dirty {
  const m = w.ranges;
  if (m === undefined) {
    const p = w.writable(pgno);
    return new Dirty(p, shiftFor(p.length), true);
  }
  const before = w.page(pgno);
  const p = w.writable(pgno);
  let d = m.get(pgno);
  if (d === undefined || d.page !== p) {
    d = new Dirty(p, shiftFor(p.length), p === before || pgno === 0);
    m.set(pgno, d);
  }
  return d;
}

/** The page made writable for changes that are not reported by range: it is diffed whole at commit. */
export function writableWhole(w: PageWriter, pgno: number): Buffer {
  const p = w.writable(pgno);
  const d = w.ranges?.get(pgno);
  if (d !== undefined) d.whole = true;
  return p;
}

/** The ranges tracked for private page `buf` (page pgno of `w`), or undefined when the whole page must be diffed. */
export function rangesOf(w: PageWriter, pgno: number, buf: Buffer): Dirty | undefined {
  const d = w.ranges?.get(pgno);
  return d === undefined || d.whole || d.page !== buf ? undefined : d;
}

/**
 * diffInto (pager.ts) restricted to the changed blocks of `d`: the same ranges and bytes, because
 * bytes outside the blocks equal `prev` and two runs of changed blocks are at least one block
 * (≥ 64 bytes, more than diffInto's 16-byte merge distance) apart. Returns the encoded length.
 */
export function diffRanges(prev: Buffer, d: Dirty, out: Buffer, at: number): number {
  const len = diffBlocks(prev, d, out, at);
  if (deltaCheck.on) {
    deltaCheck.checked++;
    const full = Buffer.alloc(out.length);
    const m = diffInto(prev, d.page, full, at);
    assert(m === len && full.compare(out, at, at + len, at, at + m) === 0, `page ${d.page.readUInt32LE(PageOffset.pgno)}: the delta built from changed ranges differs from the whole-page diff`);
  }
  return len;
}

function diffBlocks(prev: Buffer, d: Dirty, out: Buffer, at: number): number {
  const next = d.page;
  const s = d.shift;
  const nb = next.length >>> s;
  let len = 0;
  let b = 0;
  while (b < nb) {
    if (!isSet(d, b)) {
      b++;
      continue;
    }
    const first = b;
    while (b < nb && isSet(d, b)) b++;
    len += diffInto(prev, next, out, at + len, first << s, b << s);
  }
  return len;
}

function isSet(d: Dirty, b: number): boolean {
  return b < 32 ? (d.lo & (1 << b)) !== 0 : (d.hi & (1 << (b - 32))) !== 0;
}

/** Test hook: when on, every range-built delta is compared with a full diffInto (a mismatch throws). */
export const deltaCheck: { on: boolean; checked: number } = { on: checks.deltas, checked: 0 };
