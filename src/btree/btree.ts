// cairn B+tree: byte-string keys → byte-string values in memcmp order, in fixed-size pages
// obtained only through PageReader/PageWriter (page/store.ts). Layer: btree (depends on page, util).
//
// ==== Design choices ==========================================================================
//
// * Stable root. A tree is named by its root page number, which never changes. When the root
//   must split, its contents move to a fresh page and the root becomes a branch with that page as
//   its only child, which then splits normally ("push down"). When deletes leave the root a
//   branch with one child, the child's contents move up into the root ("collapse").
//
// * Slotted pages. Leaf and branch pages hold a u16 slot array growing up from byte 36 and cells
//   growing down from the end of the page. Deleting a cell leaves a hole counted in `frag`;
//   a page is compacted only when an insert needs the space. Leaves are doubly linked through
//   the header's next/prev fields, so scans never climb the tree.
//
// * Branch pages hold n children and n-1 separator keys as n cells; cell 0's key is empty and
//   means "-infinity". Child i holds keys k with sep[i] <= k < sep[i+1]. A leaf split makes the
//   separator the shortest prefix of the right page's first key that is greater than the left
//   page's last key (suffix truncation), so branch fan-out is high.
//
// * Split point. An insert at the end of a full page (idx == count) leaves the page as it is and
//   starts the new right sibling with the new cell alone; an insert at the start of a full leaf
//   does the mirror image. Sequential loads (ascending or descending) therefore produce full
//   pages, as LMDB's append mode does. Any other split divides the bytes in half.
//
// * Overflow. A leaf cell larger than maxCell = (pageSize-36)/4 - 2 bytes does not stay inline:
//   first the value moves to an overflow chain; if the key alone is still too large the key
//   moves too, keeping an inline prefix of max(16, maxCell/4) bytes so most comparisons are
//   decided without reading the chain. Branch separators follow the same rule, with their own
//   chains (a separator never shares pages with a leaf entry). Overflow pages (type 4) carry
//   pageSize-32 data bytes, `prev` = bytes in the page, `next` = next page; all but the last are
//   full, so the chain length is checked against the recorded total at every page. Chains are
//   freed when their entry is deleted or overwritten. Lengths are u32 (values up to 4 GiB-1).
//
// * Duplicates are distinct entries with an order-preserving composite internal key:
//     sorted:   enc(key) ++ value            (leaf value empty; the value is read from the key)
//     unsorted: enc(key) ++ u64be sequence   (leaf value holds the value)
//   where enc escapes 0x00 as 0x00 0xFF and ends with 0x00 0x00 (keys.ts). The sequence of a
//   new unsorted duplicate is the last existing duplicate's sequence + 1 (0 for the first), read
//   from the entry just before where it goes: no counter page needs writing, and the order of
//   the remaining duplicates is always their insertion order.
//
// * Deletion. A leaf left empty is unlinked and freed, and its separator removed; a branch left
//   with no children is freed the same way. A leaf or branch whose live bytes drop below a
//   quarter of the usable body is merged into its left (else right) sibling under the same
//   parent when the two fit in one page (a branch merge pulls the parent's separator down).
//   Changes climb the path; a root branch left with one child collapses. All leaves stay at the
//   same depth and a tree emptied by deletes is its root leaf alone.
//
// * Corruption. Every page visited is checked (type for its position, count vs. cell area,
//   cell bounds, child pointers, sibling back-links, key order across leaves, overflow page
//   type and byte counts); any violation throws CorruptionError(`page N`, offset, what). Loops
//   are bounded (descent depth <= 64, chains by their recorded length, leaf walks by key order).
//
// * Reads never copy pages. Binary search compares the search key with cell bytes in place,
//   skipping the leading bytes known to be equal (the common prefix of the search key with the
//   current lower and upper bounds, carried from each branch level to the next), so keys with
//   long shared prefixes cost little. Cursors keep (leaf, index) and follow sibling links; they
//   run over an immutable snapshot, so no latching is needed.
//
// * Reading API. get/getAll/cursor return copies. scan(r, range, fn) is the fast path for
//   iterators: fn(key, value) gets views into the pages (no copy for inline entries) that are
//   valid only during the call; it returns the number of entries visited, and stops when fn
//   returns false or `limit` is reached. Neither a scan nor a cursor may run over a PageWriter
//   that is modified while they are in use (use a snapshot reader).
//
// * Writes dirty only what they change: put descends with page(), then makes writable() only the
//   leaf (and, on a split or merge, the pages involved). Re-putting an identical inline value
//   writes nothing.
//
// * Appends skip the descent. After an insert at the end of the rightmost leaf that did not
//   split, the tree keeps that leaf's changed-ranges tracker (ranges.ts) with its path; the next
//   write whose key is above the leaf's last key goes straight there when nothing else was
//   written since by any tree object (a global write epoch), and the writer still holds that
//   very private copy of the leaf (the tracker is per writer and per copy: another transaction's
//   writer, a rebase's, or a MemStore after snapshot() never matches). The result is the one the
//   descent gives, since such a key is above every key of the tree. Writes to two trees in
//   turn, splits, deletes and non-append puts all descend (with the append hint of locateW).
//
// ==== Code map ================================================================================
//
// The on-page format is in FORMAT.md (§B-tree pages); page.ts is the only file that knows the
// offsets. This file is the facade: the BTree class and the types importers use. The work is
// done by, one file per verb (as BDB's bt_*.c):
//   search.ts  comparisons in place, leaf/branch binary search, key/value extraction, descent
//              with the separator-bound checks, seek/step; its out-parameters in one scratch (S)
//   cursor.ts  TreeCursor          scan.ts   range scans
//   put.ts     WritePath: the write descent, append fast path and cached append path, insert
//   split.ts   page splits, root push-down      delete.ts  deletes, merges, root collapse, truncate
//   verify.ts  the whole-tree check             stat.ts    whole-tree walks and statistics

import { PageType } from '../page/format.js';
import type { PageReader, PageWriter } from '../page/store.js';
import { invalid } from '../util/errors.js';
import { LEAF, SLOTS, count, initNode, slot } from './page.js';
import { copyOf, encodeKey } from './keys.js';
import { EMPTY, type DupMode, type Pos, S, asBuf, checkAround, cmpLeaf, descend, descendChecked, leafKey, leafValue, searchLeaf, seekGE } from './search.js';
import { type Cursor, TreeCursor } from './cursor.js';
import { type ScanOptions, scan as scanTree, scanI } from './scan.js';
import { MAX_LEN, WritePath, bumpWriteEpoch, checkLen } from './put.js';
import { del as delKey, drop as dropTree, truncate as truncateTree } from './delete.js';
import { verifyTree } from './verify.js';
import { type TreeStat, countEntries, stat as statTree, walkPages as walkTreePages } from './stat.js';
import './pagecheck.js'; // registers the check of each page read from disk with the pager

export type { Cursor, DupMode, ScanOptions, TreeStat };
export { appendCache } from './put.js';

// ---- the tree ---------------------------------------------------------------------------------

export class BTree {
  private readonly pos: Pos = { p: EMPTY, pgno: 0, i: 0 };
  /** The write state: the last write descent's path and the cached append path (put.ts). */
  private readonly wp: WritePath;

  constructor(
    readonly root: number,
    readonly dup: DupMode,
  ) {
    if (dup !== 'none' && dup !== 'sorted' && dup !== 'unsorted') throw invalid(`bad duplicate mode ${String(dup)}`);
    if (!Number.isInteger(root) || root <= 0 || root > MAX_LEN) throw invalid(`bad root page number ${root}`);
    this.wp = new WritePath(root, dup);
  }

  /** Allocates an empty tree (a leaf root) and returns its root page number. */
  static create(w: PageWriter): number {
    bumpWriteEpoch();
    const { pgno, buf } = w.allocate(PageType.Leaf);
    initNode(buf, LEAF);
    return pgno;
  }

  // ---- reads ----------------------------------------------------------------------------------

  /** The value of key (the first duplicate in dup trees), a copy; undefined when absent. */
  get(r: PageReader, key: Buffer): Buffer | undefined {
    key = asBuf(key, 'key');
    const pos = this.pos;
    if (this.dup === 'none') {
      descend(r, this.root, key, pos);
      const s = searchLeaf(r, pos.p, pos.pgno, key, S.skip);
      checkAround(r, pos.p, pos.pgno, this.root, s);
      if (s < 0) return undefined;
      return leafValue(r, pos.p, pos.pgno, slot(pos.p, s), true);
    }
    const lo = encodeKey(key, 0);
    if (!seekGE(r, this.root, lo, true, pos)) return undefined;
    const hi = encodeKey(key, 0, true);
    const p = pos.p;
    const off = slot(p, pos.i);
    if (cmpLeaf(r, hi, p, pos.pgno, off, SLOTS + 2 * count(p)) <= 0) return undefined;
    if (this.dup === 'unsorted') return leafValue(r, p, pos.pgno, off, true);
    const ik = leafKey(r, p, pos.pgno, off, false);
    return copyOf(ik, lo.length, ik.length);
  }

  /** The page number of the leaf whose range holds key (where a corrupt entry is reported). */
  leafFor(r: PageReader, key: Buffer): number {
    const pos: Pos = { p: EMPTY, pgno: 0, i: 0 };
    descendChecked(r, this.root, key, pos);
    return pos.pgno;
  }

  /** All values of key in order (one at most for 'none' trees), copies. */
  getAll(r: PageReader, key: Buffer): Buffer[] {
    key = asBuf(key, 'key');
    if (this.dup === 'none') {
      const v = this.get(r, key);
      return v === undefined ? [] : [v];
    }
    const out: Buffer[] = [];
    scanI(this, r, encodeKey(key, 0), true, encodeKey(key, 0, true), false, false, -1, (_k, v) => {
      out.push(Buffer.from(v));
    });
    return out;
  }

  /** A cursor over the reader's snapshot. */
  cursor(r: PageReader): Cursor {
    return new TreeCursor(this, r);
  }

  /**
   * Range scan: calls fn(key, value) for each entry in range, in order (reverse: descending),
   * until fn returns false or limit entries were visited; returns the number visited. key and
   * value are views valid only during the call (copy them to keep them); no copy is made for
   * inline entries, so this is the fast path for iterators.
   */
  scan(r: PageReader, opts: ScanOptions, fn: (key: Buffer, value: Buffer) => boolean | void): number {
    return scanTree(this, r, opts, fn);
  }

  /** Number of entries (pairs, for dup trees). Reads every leaf. */
  count(r: PageReader): number {
    return countEntries(r, this.root);
  }

  // ---- writes ---------------------------------------------------------------------------------

  /**
   * Stores key → value. 'none': replaces an existing value (unless noOverwrite). 'sorted': adds
   * the pair (no-op if the identical pair exists). 'unsorted': appends the value after the key's
   * existing duplicates. With noOverwrite, returns false and changes nothing if the key exists.
   */
  put(w: PageWriter, key: Buffer, value: Buffer, opts?: { noOverwrite?: boolean }): boolean {
    key = asBuf(key, 'key');
    value = asBuf(value, 'value');
    checkLen(key, 'key');
    checkLen(value, 'value');
    return this.wp.putChecked(w, key, value, opts?.noOverwrite === true);
  }

  /** put() for a caller that has already made key and value Buffers within the length limit (Database.put). */
  putChecked(w: PageWriter, key: Buffer, value: Buffer, noOverwrite: boolean): boolean {
    return this.wp.putChecked(w, key, value, noOverwrite);
  }

  /**
   * Removes key (every duplicate), or with value only the pair(s) equal to (key, value).
   * Returns the number of entries removed.
   */
  del(w: PageWriter, key: Buffer, value?: Buffer): number {
    return delKey(this.wp, w, key, value);
  }

  /** Removes every entry and frees every page but the root; returns the number of entries. */
  truncate(w: PageWriter): number {
    return truncateTree(this.wp, w);
  }

  /** Frees every page of the tree, root included. The tree must not be used afterwards. */
  drop(w: PageWriter): void {
    dropTree(this.wp, w);
  }

  // ---- whole-tree walks ---------------------------------------------------------------------

  /** Visits every page of the tree: leaves, branches and overflow pages. */
  walkPages(r: PageReader, visit: (pgno: number, type: number) => void): void {
    walkTreePages(r, this.root, visit);
  }

  stat(r: PageReader): TreeStat {
    return statTree(r, this.root);
  }

  /**
   * Checks the whole tree; returns a list of problems ([] when sound): page types per level, page
   * headers and cell bounds, key order within and across pages, separator bounds, sibling links,
   * empty pages, overflow chains (types, byte counts, lengths), duplicate-key encoding, pages
   * reached twice.
   */
  verify(r: PageReader): string[] {
    return verifyTree(this, r);
  }
}
