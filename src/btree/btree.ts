// cairn B+tree: byte-string keys → byte-string values in memcmp order, in fixed-size pages
// obtained only through PageReader/PageWriter (store.ts). Layer: btree (depends on page, util).
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
// ==== On-page format (FORMAT.md §B-tree pages) ===============================================
//
// Shared header (src/page/format.ts): bytes 0..19 belong to the pager. The B-tree owns:
//   20 u8  type    2 = branch, 3 = leaf, 4 = overflow
//   21 u8  flags   0 (reserved)
//   22 u16 count   leaf: entries; branch: children; overflow: 0
//   24 u32 next    leaf: right sibling (0 = none); overflow: next page of the chain
//   28 u32 prev    leaf: left sibling (0 = none); overflow: data bytes in this page
// Leaf and branch body:
//   32 u16 upper   offset of the lowest cell byte; 0 means pageSize (no cells)
//   34 u16 frag    bytes of dead cells between upper and the end of the page
//   36 u16[count]  slot array: offsets of the cells, in key order
//   ...            free space
//   upper..end     cells
// Leaf cell:
//   +0 u8  flags   1 = key overflows, 2 = value overflows
//   +1 u16 klen    key bytes inline (the whole key, or its prefix when it overflows)
//   +3 u16 vlen    value bytes inline (0 when the value overflows)
//   +5 key[klen], value[vlen]
//   then, if the key overflows:   u32 total key length, u32 first overflow page (holds key[klen..])
//   then, if the value overflows: u32 total value length, u32 first overflow page
// Branch cell:
//   +0 u32 child   page number
//   +4 u8  flags   1 = key overflows
//   +5 u16 klen    separator bytes inline (0 in cell 0)
//   +7 key[klen]
//   then, if the key overflows: u32 total key length, u32 first overflow page
// Overflow page: header as above, data at 32 .. 32 + prev.
// All integers little-endian; sequence numbers inside unsorted-duplicate keys are big-endian.

import { PageType } from '../page/format.js';
import { CairnError, invalid } from '../util/errors.js';
import { assert } from '../util/assert.js';
import { planted } from '../util/plant.js';
import type { PageReader, PageWriter } from './store.js';
import {
  BRANCH,
  BRANCH_HDR,
  F_KOVF,
  F_VOVF,
  H_NEXT,
  H_PREV,
  H_TYPE,
  H_FRAG,
  H_COUNT,
  LEAF,
  LEAF_HDR,
  MAX_DEPTH,
  OVERFLOW,
  REF,
  SLOTS,
  bodyUsed,
  branchCellSize,
  checkNode,
  childAt,
  compareChain,
  corrupt,
  count,
  freeChain,
  initNode,
  keyPrefix,
  leafCellSize,
  maxCell,
  chainBuffer,
  removeSlot,
  reserve,
  setU16,
  setU32,
  setUpper,
  slot,
  u16,
  u32,
  upper,
  walkChain,
  writeChain,
} from './page.js';
import { commonPrefix, copyOf, encodeKey, memcmp2, terminatorAt, unescapeKey } from './keys.js';
import { type Dirty, track, writableWhole } from './ranges.js';
import './pagecheck.js'; // registers the structural check of pages read from disk with the pager (issue 21)

/** Duplicate keys: 'none', 'sorted' (a key's values in memcmp order) or 'unsorted' (insertion order). */
export type DupMode = 'none' | 'sorted' | 'unsorted';

export interface Cursor {
  // Each returns the entry it lands on, or undefined past either end. Returned Buffers are copies.
  // A fresh cursor's next() is first() and prev() is last(); after running off the end, next()
  // stays undefined and prev() returns the last entry (and symmetrically at the front).
  first(): [Buffer, Buffer] | undefined;
  last(): [Buffer, Buffer] | undefined;
  /** First entry with key >= key. */
  seek(key: Buffer): [Buffer, Buffer] | undefined;
  /** Last entry with key <= key. */
  seekLast(key: Buffer): [Buffer, Buffer] | undefined;
  next(): [Buffer, Buffer] | undefined;
  prev(): [Buffer, Buffer] | undefined;
}

/**
 * Range of a scan. Bounds are user keys; when both gt and gte (or lt and lte) are given the
 * tighter one applies. limit < 0 or undefined = unlimited.
 */
export interface ScanOptions {
  gte?: Buffer;
  gt?: Buffer;
  lte?: Buffer;
  lt?: Buffer;
  reverse?: boolean;
  limit?: number;
}

export interface TreeStat {
  levels: number;
  leafPages: number;
  branchPages: number;
  overflowPages: number;
  entries: number;
  /** Live bytes / usable bytes over leaf and branch pages (0..1). */
  fillFactor: number;
}

const EMPTY: Buffer = Buffer.alloc(0);
const REPLACE = 0;
const NOOVERWRITE = 1;
const KEEP = 2;
const MAX_LEN = 0xffffffff;

// ---- cell access ------------------------------------------------------------------------------

const EMPTY_PREFIX = Buffer.alloc(0);

function badCell(pgno: number, off: number): CairnError {
  return corrupt(pgno, off, 'cell outside the cell area or with bad flags');
}

/** Compares key with an overflowing stored key: inline prefix p[ko..ko+kin), rest in a chain. */
function cmpOvfKey(r: PageReader, key: Buffer, p: Buffer, pgno: number, ko: number, kin: number, ro: number): number {
  const kl = key.length;
  const n = kl < kin ? kl : kin;
  const c = memcmp2(key, 0, n, p, ko, n);
  if (c !== 0) return c;
  if (kl <= kin) return -1;
  const total = u32(p, ro);
  if (total <= kin) throw corrupt(pgno, ro, `overflow key length ${total} not beyond its inline prefix ${kin}`);
  return compareChain(r, key, kin, u32(p, ro + 4), total - kin, pgno, ro);
}

// Binary searches skip bytes known to be equal: if every key in a range lies between bounds L
// and R, and the search key s does too, all of them share min(lcp(s, L), lcp(s, R)) leading
// bytes with s. Each comparison reports (in `lcpOut`) how many leading bytes matched, the
// searches narrow the bounds, and a branch search hands the skip for the chosen child to the
// next level (`skipOut`), since a child's keys lie between its two separators.
let lcpOut = 0;
let skipOut = 0;

/** memcmp(key, key of the leaf cell at off), starting at byte `from`; sets lcpOut. */
function cmpLeaf(r: PageReader, key: Buffer, p: Buffer, pgno: number, off: number, se: number, from = 0): number {
  const fl = p[off];
  const kin = p[off + 1] | (p[off + 2] << 8);
  const ko = off + LEAF_HDR;
  if (off < se || ko + kin > p.length) throw badCell(pgno, off);
  if (fl === 0 || fl === F_VOVF) {
    const kl = key.length;
    const n = kl < kin ? kl : kin;
    for (let i = from; i < n; i++) {
      const d = key[i] - p[ko + i];
      if (d !== 0) {
        lcpOut = i;
        return d;
      }
    }
    lcpOut = n;
    return kl - kin;
  }
  if (fl > 3) throw badCell(pgno, off);
  const ro = ko + kin + (p[off + 3] | (p[off + 4] << 8));
  if (ro + REF > p.length) throw badCell(pgno, off);
  lcpOut = 0;
  return cmpOvfKey(r, key, p, pgno, ko, kin, ro);
}

/** memcmp(key, separator of the branch cell at off), starting at byte `from`; sets lcpOut. */
function cmpBranch(r: PageReader, key: Buffer, p: Buffer, pgno: number, off: number, se: number, from: number): number {
  const fl = p[off + 4];
  const kin = p[off + 5] | (p[off + 6] << 8);
  const ko = off + BRANCH_HDR;
  if (off < se || ko + kin > p.length) throw badCell(pgno, off);
  if (fl === 0) {
    const kl = key.length;
    const n = kl < kin ? kl : kin;
    for (let i = from; i < n; i++) {
      const d = key[i] - p[ko + i];
      if (d !== 0) {
        lcpOut = i;
        return d;
      }
    }
    lcpOut = n;
    return kl - kin;
  }
  if (fl !== F_KOVF || ko + kin + REF > p.length) throw badCell(pgno, off);
  lcpOut = 0;
  return cmpOvfKey(r, key, p, pgno, ko, kin, ko + kin);
}

/**
 * Binary search of a leaf: the index of key if present, else ~(insertion index). skip = bytes
 * every key of the page is known to share with key (0 if unknown).
 */
function searchLeaf(r: PageReader, p: Buffer, pgno: number, key: Buffer, skip = 0): number {
  const n = p[22] | (p[23] << 8);
  const se = SLOTS + 2 * n;
  let lo = 0;
  let hi = n;
  let llcp = skip;
  let rlcp = skip;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const so = SLOTS + 2 * mid;
    const c = cmpLeaf(r, key, p, pgno, p[so] | (p[so + 1] << 8), se, llcp < rlcp ? llcp : rlcp);
    if (c > 0) {
      lo = mid + 1;
      llcp = lcpOut;
    } else if (c < 0) {
      hi = mid;
      rlcp = lcpOut;
    } else return mid;
  }
  return ~lo;
}

/** Binary search of a branch: the index of the child whose range holds key; sets skipOut. */
function searchBranch(r: PageReader, p: Buffer, pgno: number, key: Buffer, skip: number): number {
  const n = p[22] | (p[23] << 8);
  const se = SLOTS + 2 * n;
  let lo = 1;
  let hi = n;
  let llcp = skip;
  let rlcp = skip;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const so = SLOTS + 2 * mid;
    if (cmpBranch(r, key, p, pgno, p[so] | (p[so + 1] << 8), se, llcp < rlcp ? llcp : rlcp) >= 0) {
      lo = mid + 1;
      llcp = lcpOut;
    } else {
      hi = mid;
      rlcp = lcpOut;
    }
  }
  skipOut = llcp < rlcp ? llcp : rlcp;
  return lo - 1;
}

/** The key of the leaf cell at off: a view of the page when inline (unless copy), else read. */
function leafKey(r: PageReader, p: Buffer, pgno: number, off: number, copy: boolean): Buffer {
  const fl = p[off];
  const kin = p[off + 1] | (p[off + 2] << 8);
  const ko = off + LEAF_HDR;
  if (ko + kin > p.length) throw badCell(pgno, off);
  if ((fl & F_KOVF) === 0) return copy ? copyOf(p, ko, ko + kin) : p.subarray(ko, ko + kin);
  const ro = ko + kin + (p[off + 3] | (p[off + 4] << 8));
  if (ro + REF > p.length) throw badCell(pgno, off);
  const total = u32(p, ro);
  if (total <= kin) throw corrupt(pgno, ro, `overflow key length ${total} not beyond its inline prefix ${kin}`);
  return chainBuffer(r, p.subarray(ko, ko + kin), u32(p, ro + 4), total - kin, pgno, ro);
}

/** The value of the leaf cell at off: a view when inline (unless copy), else read. */
function leafValue(r: PageReader, p: Buffer, pgno: number, off: number, copy: boolean): Buffer {
  const fl = p[off];
  const kin = p[off + 1] | (p[off + 2] << 8);
  const vin = p[off + 3] | (p[off + 4] << 8);
  const vo = off + LEAF_HDR + kin;
  if (vo + vin > p.length || fl > 3) throw badCell(pgno, off);
  if ((fl & F_VOVF) === 0) return copy ? copyOf(p, vo, vo + vin) : p.subarray(vo, vo + vin);
  const ro = vo + vin + (fl & F_KOVF ? REF : 0);
  if (ro + REF > p.length) throw badCell(pgno, off);
  return chainBuffer(r, EMPTY_PREFIX, u32(p, ro + 4), u32(p, ro), pgno, ro);
}

/** The separator of the branch cell at off (fresh buffer when it overflows). */
function branchKey(r: PageReader, p: Buffer, pgno: number, off: number): Buffer {
  const fl = p[off + 4];
  const kin = p[off + 5] | (p[off + 6] << 8);
  const ko = off + BRANCH_HDR;
  if (ko + kin > p.length || fl > 1) throw badCell(pgno, off);
  if (fl === 0) return p.subarray(ko, ko + kin);
  const ro = ko + kin;
  if (ro + REF > p.length) throw badCell(pgno, off);
  const total = u32(p, ro);
  if (total <= kin) throw corrupt(pgno, ro, `overflow key length ${total} not beyond its inline prefix ${kin}`);
  return chainBuffer(r, p.subarray(ko, ko + kin), u32(p, ro + 4), total - kin, pgno, ro);
}

/** Compares the keys of two leaf cells (used for the order check between sibling leaves). */
function cmpLeafCells(r: PageReader, a: Buffer, apg: number, ao: number, b: Buffer, bpg: number, bo: number): number {
  if (((a[ao] | b[bo]) & F_KOVF) === 0) {
    const al = u16(a, ao + 1);
    const bl = u16(b, bo + 1);
    if (ao + LEAF_HDR + al > a.length) throw badCell(apg, ao);
    if (bo + LEAF_HDR + bl > b.length) throw badCell(bpg, bo);
    return memcmp2(a, ao + LEAF_HDR, al, b, bo + LEAF_HDR, bl);
  }
  return Buffer.compare(leafKey(r, a, apg, ao, false), leafKey(r, b, bpg, bo, false));
}

function writeLeafCell(d: Buffer, off: number, fl: number, key: Buffer, kin: number, kref: number, val: Buffer, vin: number, vref: number): void {
  d[off] = fl;
  d[off + 1] = kin & 0xff;
  d[off + 2] = kin >>> 8;
  d[off + 3] = vin & 0xff;
  d[off + 4] = vin >>> 8;
  let o = off + LEAF_HDR;
  // Uint8Array.prototype.set, not Buffer.prototype.copy: no argument validation in JavaScript.
  if (kin <= 16) for (let i = 0; i < kin; i++) d[o++] = key[i];
  else {
    d.set(kin === key.length ? key : key.subarray(0, kin), o);
    o += kin;
  }
  if (vin > 0) {
    d.set(vin === val.length ? val : val.subarray(0, vin), o);
    o += vin;
  }
  if (fl & F_KOVF) {
    setU32(d, o, key.length);
    setU32(d, o + 4, kref);
    o += REF;
  }
  if (fl & F_VOVF) {
    setU32(d, o, val.length);
    setU32(d, o + 4, vref);
  }
}

/** Frees the overflow chains of the leaf cell at off, if any. */
function freeLeafChains(w: PageWriter, p: Buffer, pgno: number, off: number): void {
  const fl = p[off];
  if (fl === 0) return;
  let ro = off + LEAF_HDR + u16(p, off + 1) + u16(p, off + 3);
  if (fl & F_KOVF) {
    freeChain(w, u32(p, ro + 4), u32(p, ro) - u16(p, off + 1), pgno, ro);
    ro += REF;
  }
  if (fl & F_VOVF) freeChain(w, u32(p, ro + 4), u32(p, ro), pgno, ro);
}

/** Frees the overflow chain of the separator of the branch cell at off, if any. */
function freeBranchChain(w: PageWriter, p: Buffer, pgno: number, off: number): void {
  if ((p[off + 4] & F_KOVF) === 0) return;
  const kin = u16(p, off + 5);
  const ro = off + BRANCH_HDR + kin;
  freeChain(w, u32(p, ro + 4), u32(p, ro) - kin, pgno, ro);
}

/** A branch cell pointing at child with no key (cell 0 of a branch page); reported to `d` if given. */
function writeStub(p: Buffer, pgno: number, idx: number, child: number, d?: Dirty): void {
  const o = reserve(p, pgno, idx, BRANCH_HDR, d);
  assert(o >= 0, 'room for a branch stub cell');
  d?.mark(o, o + BRANCH_HDR);
  setU32(p, o, child);
  p[o + 4] = 0;
  setU16(p, o + 5, 0);
}

/** Sets a sibling link (H_NEXT or H_PREV) of page pgno, reporting the 4 bytes. */
function setLink(w: PageWriter, pgno: number, field: number, to: number): void {
  const d = track(w, pgno);
  setU32(d.page, field, to);
  d.mark(field, field + 4);
}

// ---- navigation over a reader -----------------------------------------------------------------

/** A position on a leaf entry. */
interface Pos {
  p: Buffer;
  pgno: number;
  i: number;
}

// Separator bounds of a descent (issue 21, F13). Child i of a branch holds keys k with
// sep[i] <= k < sep[i+1], so every page reached from the root lies within the separators of the
// branch cells followed to it: a descent carries the tightest pair (the branch page and the
// offset of the cell; offset 0: unbounded), checks that each separator it narrows them to lies
// within them, and checks the leaf it lands on: its first key >= the low bound, its last key
// below the high bound, and no empty leaf under a branch. A child pointer into another tree, or
// duplicated, or a descriptor naming another tree's interior page, thus fails with a
// CorruptionError instead of a missing key or a write into the wrong tree. The cost is one or
// two in-place key comparisons per level (PERFORMANCE.md §Read-path structure checks).
let loP: Buffer = EMPTY;
let loPg = 0;
let loO = 0;
let hiP: Buffer = EMPTY;
let hiPg = 0;
let hiO = 0;

/** memcmp(key of the leaf cell at lo of page lp, separator of the branch cell at bo of page bp). */
function cmpLeafSep(r: PageReader, lp: Buffer, lpg: number, lo: number, bp: Buffer, bpg: number, bo: number): number {
  const kin = lp[lo + 1] | (lp[lo + 2] << 8);
  const bkin = bp[bo + 5] | (bp[bo + 6] << 8);
  if (((lp[lo] & F_KOVF) | bp[bo + 4]) === 0) {
    if (lo < SLOTS || lo + LEAF_HDR + kin > lp.length) throw badCell(lpg, lo);
    if (bo < SLOTS || bo + BRANCH_HDR + bkin > bp.length) throw badCell(bpg, bo);
    return memcmp2(lp, lo + LEAF_HDR, kin, bp, bo + BRANCH_HDR, bkin);
  }
  return Buffer.compare(leafKey(r, lp, lpg, lo, false), branchKey(r, bp, bpg, bo));
}

/** memcmp(separator of the branch cell at ao of page ap, separator of the branch cell at bo of page bp). */
function cmpSeps(r: PageReader, ap: Buffer, apg: number, ao: number, bp: Buffer, bpg: number, bo: number): number {
  const akin = ap[ao + 5] | (ap[ao + 6] << 8);
  const bkin = bp[bo + 5] | (bp[bo + 6] << 8);
  if ((ap[ao + 4] | bp[bo + 4]) === 0) {
    if (ao < SLOTS || ao + BRANCH_HDR + akin > ap.length) throw badCell(apg, ao);
    if (bo < SLOTS || bo + BRANCH_HDR + bkin > bp.length) throw badCell(bpg, bo);
    return memcmp2(ap, ao + BRANCH_HDR, akin, bp, bo + BRANCH_HDR, bkin);
  }
  return Buffer.compare(branchKey(r, ap, apg, ao), branchKey(r, bp, bpg, bo));
}

function outOfPlace(pgno: number, off: number, what: string, from: number): CairnError {
  return corrupt(pgno, off, `${what} of branch ${from}: the page is reached from the wrong place (a child pointer into another tree, or duplicated)`);
}

/**
 * Narrows the bounds to child i of branch p (n children). A low bound may only rise and a high
 * bound only fall (one comparison each), so the leaf's check against the last pair checks it
 * against every pair on the path. Call with the bounds cleared (loO = hiO = 0) at the root.
 */
function narrow(r: PageReader, p: Buffer, pgno: number, n: number, i: number): void {
  if (i > 0) {
    const so = SLOTS + 2 * i;
    const o = p[so] | (p[so + 1] << 8);
    if (loO !== 0 && cmpSeps(r, p, pgno, o, loP, loPg, loO) < 0) throw outOfPlace(pgno, o, 'separator below the low bound', loPg);
    loP = p;
    loPg = pgno;
    loO = o;
  }
  if (i + 1 < n) {
    const so = SLOTS + 2 * i + 2;
    const o = p[so] | (p[so + 1] << 8);
    if (hiO !== 0 && cmpSeps(r, p, pgno, o, hiP, hiPg, hiO) > 0) throw outOfPlace(pgno, o, 'separator above the high bound', hiPg);
    hiP = p;
    hiPg = pgno;
    hiO = o;
  }
}

/** Checks the leaf a descent from root landed on against the descent's bounds (see loP). */
function checkLanding(r: PageReader, p: Buffer, pgno: number, root: number): void {
  const n = p[22] | (p[23] << 8);
  if (n === 0) {
    if (pgno !== root) throw corrupt(pgno, H_COUNT, 'empty leaf under a branch');
    return;
  }
  if (loO !== 0 && cmpLeafSep(r, p, pgno, p[SLOTS] | (p[SLOTS + 1] << 8), loP, loPg, loO) < 0) {
    throw outOfPlace(pgno, SLOTS, 'first key below the separator', loPg);
  }
  if (hiO !== 0) {
    const so = SLOTS + 2 * (n - 1);
    if (cmpLeafSep(r, p, pgno, p[so] | (p[so + 1] << 8), hiP, hiPg, hiO) >= 0) throw outOfPlace(pgno, so, 'last key not below the separator', hiPg);
  }
}

/**
 * The point-read form of checkLanding, after the leaf search gave s (an index, or ~insertion
 * index). A key found is the key asked for, which lies within the bounds: nothing more is read.
 * A key not found: the entries just below and just above it (the last the search compared, so
 * no other part of the page is read) must lie within the bounds. A leaf from elsewhere whose keys
 * are all outside them (another tree's, a sibling reached twice) is caught by either entry.
 */
function checkAround(r: PageReader, p: Buffer, pgno: number, root: number, s: number): void {
  if (s >= 0) return;
  pathBounds(r);
  const n = p[22] | (p[23] << 8);
  if (n === 0) {
    if (pgno !== root) throw corrupt(pgno, H_COUNT, 'empty leaf under a branch');
    return;
  }
  const below = ~s - 1;
  const above = ~s;
  if (loO !== 0) {
    const so = SLOTS + 2 * (below > 0 ? below : 0);
    if (cmpLeafSep(r, p, pgno, p[so] | (p[so + 1] << 8), loP, loPg, loO) < 0) throw outOfPlace(pgno, so, 'a key below the separator', loPg);
  }
  if (hiO !== 0) {
    const so = SLOTS + 2 * (above < n ? above : n - 1);
    if (cmpLeafSep(r, p, pgno, p[so] | (p[so + 1] << 8), hiP, hiPg, hiO) >= 0) throw outOfPlace(pgno, so, 'a key not below the separator', hiPg);
  }
}

// The branch pages of the last `descend` (page, number, child taken), from the root down: the
// bounds are computed and checked from them only when the leaf is (pathBounds), so a point read
// that finds its key pays two stores per level and no comparison.
const pathP: Buffer[] = [];
const pathG: number[] = [];
const pathI: number[] = [];
let pathD = 0;

/** Sets and checks the bounds (loP …) along the path recorded by the last descend. */
function pathBounds(r: PageReader): void {
  loO = hiO = 0;
  for (let d = 0; d < pathD; d++) {
    const p = pathP[d]!;
    narrow(r, p, pathG[d]!, p[22] | (p[23] << 8), pathI[d]!);
  }
}

/**
 * Descends from root to the leaf whose range holds ikey; stores it in pos (i untouched) and the
 * path in pathP/pathG/pathI. The caller checks the leaf against the bounds: pathBounds, then
 * checkLanding, or checkAround after its search.
 */
function descend(r: PageReader, root: number, ikey: Buffer, pos: Pos): void {
  let pgno = root;
  let skip = 0;
  for (let d = 0; d <= MAX_DEPTH; d++) {
    const p = r.page(pgno);
    checkNode(p, pgno);
    if (p[H_TYPE] === LEAF) {
      pathD = d;
      pos.p = p;
      pos.pgno = pgno;
      skipOut = skip;
      return;
    }
    const i = searchBranch(r, p, pgno, ikey, skip);
    skip = skipOut;
    pathP[d] = p;
    pathG[d] = pgno;
    pathI[d] = i;
    pgno = childAt(p, pgno, i);
  }
  throw corrupt(pgno, 0, `tree deeper than ${MAX_DEPTH} levels`);
}

/** descend, then the full check of the leaf (seeks: the first entry may be anywhere in it). */
function descendChecked(r: PageReader, root: number, ikey: Buffer, pos: Pos): void {
  descend(r, root, ikey, pos);
  const s = skipOut;
  pathBounds(r);
  checkLanding(r, pos.p, pos.pgno, root);
  skipOut = s;
}

/** Descends to the leftmost or rightmost leaf. */
function descendEdge(r: PageReader, root: number, right: boolean, pos: Pos): void {
  let pgno = root;
  loO = hiO = 0;
  for (let d = 0; d <= MAX_DEPTH; d++) {
    const p = r.page(pgno);
    const n = checkNode(p, pgno);
    if (p[H_TYPE] === LEAF) {
      checkLanding(r, p, pgno, root);
      pos.p = p;
      pos.pgno = pgno;
      pos.i = right ? n - 1 : 0;
      return;
    }
    narrow(r, p, pgno, n, right ? n - 1 : 0);
    pgno = childAt(p, pgno, right ? n - 1 : 0);
  }
  throw corrupt(pgno, 0, `tree deeper than ${MAX_DEPTH} levels`);
}

/** Moves pos to the first entry of the right sibling leaf; false (pos unchanged) at the end. */
function nextLeaf(r: PageReader, pos: Pos): boolean {
  const p = pos.p;
  const nx = u32(p, H_NEXT);
  if (nx === 0) return false;
  const q = r.page(nx);
  if (q[H_TYPE] !== LEAF) throw corrupt(nx, H_TYPE, `right sibling of leaf ${pos.pgno} is not a leaf (type ${q[H_TYPE]})`);
  const qn = checkNode(q, nx);
  if (u32(q, H_PREV) !== pos.pgno) throw corrupt(nx, H_PREV, `left link ${u32(q, H_PREV)} does not point back to leaf ${pos.pgno}`);
  if (qn === 0) throw corrupt(nx, 22, 'empty leaf in the sibling chain');
  const pn = count(p);
  if (pn > 0 && cmpLeafCells(r, p, pos.pgno, slot(p, pn - 1), q, nx, slot(q, 0)) >= 0)
    throw corrupt(nx, SLOTS, `first key not above the last key of left sibling ${pos.pgno}`);
  pos.p = q;
  pos.pgno = nx;
  pos.i = 0;
  return true;
}

/** Moves pos to the last entry of the left sibling leaf; false (pos unchanged) at the start. */
function prevLeaf(r: PageReader, pos: Pos): boolean {
  const p = pos.p;
  const pv = u32(p, H_PREV);
  if (pv === 0) return false;
  const q = r.page(pv);
  if (q[H_TYPE] !== LEAF) throw corrupt(pv, H_TYPE, `left sibling of leaf ${pos.pgno} is not a leaf (type ${q[H_TYPE]})`);
  const qn = checkNode(q, pv);
  if (u32(q, H_NEXT) !== pos.pgno) throw corrupt(pv, H_NEXT, `right link ${u32(q, H_NEXT)} does not point back to leaf ${pos.pgno}`);
  if (qn === 0) throw corrupt(pv, 22, 'empty leaf in the sibling chain');
  if (count(p) > 0 && cmpLeafCells(r, q, pv, slot(q, qn - 1), p, pos.pgno, slot(p, 0)) >= 0)
    throw corrupt(pv, SLOTS, `last key not below the first key of right sibling ${pos.pgno}`);
  pos.p = q;
  pos.pgno = pv;
  pos.i = qn - 1;
  return true;
}

/** Positions at the first entry >= ikey (> ikey unless incl); false when there is none. */
function seekGE(r: PageReader, root: number, ikey: Buffer, incl: boolean, pos: Pos): boolean {
  descendChecked(r, root, ikey, pos);
  const s = searchLeaf(r, pos.p, pos.pgno, ikey, skipOut);
  const i = s >= 0 ? (incl ? s : s + 1) : ~s;
  const n = count(pos.p);
  if (i < n) {
    pos.i = i;
    return true;
  }
  pos.i = n - 1;
  return nextLeaf(r, pos);
}

/** Positions at the last entry <= ikey (< ikey unless incl); false when there is none. */
function seekLE(r: PageReader, root: number, ikey: Buffer, incl: boolean, pos: Pos): boolean {
  descendChecked(r, root, ikey, pos);
  const s = searchLeaf(r, pos.p, pos.pgno, ikey, skipOut);
  const i = s >= 0 ? (incl ? s : s - 1) : ~s - 1;
  if (i >= 0) {
    pos.i = i;
    return true;
  }
  pos.i = 0;
  return prevLeaf(r, pos);
}

function stepNext(r: PageReader, pos: Pos): boolean {
  if (pos.i + 1 < count(pos.p)) {
    pos.i++;
    return true;
  }
  return nextLeaf(r, pos);
}

function stepPrev(r: PageReader, pos: Pos): boolean {
  if (pos.i > 0) {
    pos.i--;
    return true;
  }
  return prevLeaf(r, pos);
}

// The entry decoded by loadEntry (module state: no allocation for a result pair in scans).
let entK: Buffer = EMPTY;
let entV: Buffer = EMPTY;

/** Decodes the user key and value of the leaf cell at off into entK / entV. */
function loadEntry(dup: DupMode, r: PageReader, p: Buffer, pgno: number, off: number, copy: boolean): void {
  if (dup === 'none') {
    entK = leafKey(r, p, pgno, off, copy);
    entV = leafValue(r, p, pgno, off, copy);
    return;
  }
  const ik = leafKey(r, p, pgno, off, false);
  const t = terminatorAt(ik, 0, ik.length);
  if (t < 0 || (dup === 'unsorted' && ik.length !== t + 10)) throw corrupt(pgno, off, 'malformed duplicate key');
  entK = unescapeKey(ik, 0, t, copy);
  if (dup === 'sorted') entV = copy ? copyOf(ik, t + 2, ik.length) : ik.subarray(t + 2);
  else entV = leafValue(r, p, pgno, off, copy);
}

function asBuf(b: unknown, what: string): Buffer {
  if (Buffer.isBuffer(b)) return b;
  if (b instanceof Uint8Array) return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  throw invalid(`${what} must be a Buffer`);
}

function checkLen(b: Buffer, what: string): void {
  if (b.length > MAX_LEN) throw new CairnError('TOO_LARGE', `${what} of ${b.length} bytes exceeds the limit of ${MAX_LEN}`);
}

/** Leaf cell layout for a key/value of these lengths: flags + 4 * inline key bytes. */
function leafLayout(kl: number, vl: number, pageSize: number): number {
  const mc = maxCell(pageSize);
  if (LEAF_HDR + kl + vl <= mc) return kl * 4;
  if (LEAF_HDR + kl + REF <= mc) return kl * 4 + F_VOVF;
  const kp = keyPrefix(pageSize);
  return kp * 4 + F_KOVF + (LEAF_HDR + kp + REF + vl <= mc ? 0 : F_VOVF);
}

let splitScratch = Buffer.alloc(0);

// The cached append path (BTree.locateW). Every write through any BTree object (put, del,
// truncate, drop, create) bumps writeEpoch before it changes anything; a tree records the epoch
// with its cached path, which is therefore stale after any write but its own last append.
let writeEpoch = 0;

/** Test switch and counter: with `on` false the cached append path is never taken (the slow path's pages must be the same); `hits` counts the puts that took it. */
export const appendCache: { on: boolean; hits: number } = { on: true, hits: 0 };

// ---- the tree ---------------------------------------------------------------------------------

export class BTree {
  // Path of the last write descent: pg[0] = root ... pg[depth] = leaf; ix[l] = slot taken in
  // pg[l] (for the leaf: the entry's index or insertion index).
  private readonly pg: number[] = [];
  private readonly ix: number[] = [];
  private depth = 0;
  /** The last write descent ended past the last key of the rightmost leaf (locateW). */
  private appending = true;
  /**
   * The cached append path: set when this tree's last write was an insert at the end of the
   * rightmost leaf that did not split, to that leaf's tracker (ranges.ts: its identity names
   * the writer's private copy of the leaf, so another writer, or this one after a snapshot or
   * commit, never matches). Valid only while writeEpoch is still `cacheEpoch` + 1 (no other
   * write since, by any tree object); pg/ix/depth then still hold that leaf's path. Taken
   * (and cleared) by the next locateW.
   */
  private cacheLeaf: Dirty | null = null;
  private cacheEpoch = -1;
  /** The leaf tracker when the last locateW took the cached path (insertLeaf reuses it), else null. */
  private hitLeaf: Dirty | null = null;
  private readonly pos: Pos = { p: EMPTY, pgno: 0, i: 0 };
  // Split bookkeeping, reused.
  private readonly itOff: number[] = [];
  private readonly itSz: number[] = [];

  constructor(
    readonly root: number,
    readonly dup: DupMode,
  ) {
    if (dup !== 'none' && dup !== 'sorted' && dup !== 'unsorted') throw invalid(`bad duplicate mode ${String(dup)}`);
    if (!Number.isInteger(root) || root <= 0 || root > MAX_LEN) throw invalid(`bad root page number ${root}`);
  }

  /** Allocates an empty tree (a leaf root) and returns its root page number. */
  static create(w: PageWriter): number {
    writeEpoch++;
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
      const s = searchLeaf(r, pos.p, pos.pgno, key, skipOut);
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
    this.scanI(r, encodeKey(key, 0), true, encodeKey(key, 0, true), false, false, -1, (_k, v) => {
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
    let lo: Buffer | null = null;
    let loIncl = true;
    let hi: Buffer | null = null;
    let hiIncl = true;
    const dup = this.dup !== 'none';
    const gte = opts.gte === undefined ? undefined : asBuf(opts.gte, 'gte');
    const gt = opts.gt === undefined ? undefined : asBuf(opts.gt, 'gt');
    const lte = opts.lte === undefined ? undefined : asBuf(opts.lte, 'lte');
    const lt = opts.lt === undefined ? undefined : asBuf(opts.lt, 'lt');
    if (gt !== undefined && (gte === undefined || Buffer.compare(gt, gte) >= 0)) {
      lo = dup ? encodeKey(gt, 0, true) : gt;
      loIncl = dup;
    } else if (gte !== undefined) {
      lo = dup ? encodeKey(gte, 0) : gte;
    }
    if (lt !== undefined && (lte === undefined || Buffer.compare(lt, lte) <= 0)) {
      hi = dup ? encodeKey(lt, 0) : lt;
      hiIncl = false;
    } else if (lte !== undefined) {
      hi = dup ? encodeKey(lte, 0, true) : lte;
      hiIncl = !dup;
    }
    const limit = opts.limit === undefined || opts.limit < 0 ? -1 : opts.limit;
    if (limit === 0) return 0;
    return this.scanI(r, lo, loIncl, hi, hiIncl, opts.reverse === true, limit, fn);
  }

  private scanI(
    r: PageReader,
    lo: Buffer | null,
    loIncl: boolean,
    hi: Buffer | null,
    hiIncl: boolean,
    reverse: boolean,
    limit: number,
    fn: (key: Buffer, value: Buffer) => boolean | void,
  ): number {
    const pos: Pos = { p: EMPTY, pgno: 0, i: 0 };
    let seen = 0;
    if (!reverse) {
      let ok: boolean;
      if (lo !== null) ok = seekGE(r, this.root, lo, loIncl, pos);
      else {
        descendEdge(r, this.root, false, pos);
        ok = count(pos.p) > 0;
      }
      while (ok) {
        const p = pos.p;
        const pgno = pos.pgno;
        const n = count(p);
        const se = SLOTS + 2 * n;
        let check = false;
        if (hi !== null) {
          const c = cmpLeaf(r, hi, p, pgno, slot(p, n - 1), se);
          check = c < 0 || (c === 0 && !hiIncl);
        }
        for (let i = pos.i; i < n; i++) {
          const off = slot(p, i);
          if (check) {
            const c = cmpLeaf(r, hi!, p, pgno, off, se);
            if (c < 0 || (c === 0 && !hiIncl)) return seen;
          }
          loadEntry(this.dup, r, p, pgno, off, false);
          seen++;
          if (fn(entK, entV) === false || seen === limit) return seen;
        }
        pos.i = n - 1;
        ok = nextLeaf(r, pos);
      }
    } else {
      let ok: boolean;
      if (hi !== null) ok = seekLE(r, this.root, hi, hiIncl, pos);
      else {
        descendEdge(r, this.root, true, pos);
        ok = count(pos.p) > 0;
      }
      while (ok) {
        const p = pos.p;
        const pgno = pos.pgno;
        const se = SLOTS + 2 * count(p);
        let check = false;
        if (lo !== null) {
          const c = cmpLeaf(r, lo, p, pgno, slot(p, 0), se);
          check = c > 0 || (c === 0 && !loIncl);
        }
        for (let i = pos.i; i >= 0; i--) {
          const off = slot(p, i);
          if (check) {
            const c = cmpLeaf(r, lo!, p, pgno, off, se);
            if (c > 0 || (c === 0 && !loIncl)) return seen;
          }
          loadEntry(this.dup, r, p, pgno, off, false);
          seen++;
          if (fn(entK, entV) === false || seen === limit) return seen;
        }
        pos.i = 0;
        ok = prevLeaf(r, pos);
      }
    }
    return seen;
  }

  /** Number of entries (pairs, for dup trees). Reads every leaf. */
  count(r: PageReader): number {
    let n = 0;
    this.walkNodes(r, (p) => {
      if (p[H_TYPE] === LEAF) n += count(p);
    });
    return n;
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
    return this.putChecked(w, key, value, opts?.noOverwrite === true);
  }

  /** put() for a caller that has already made key and value Buffers within the length limit (Database.put). */
  putChecked(w: PageWriter, key: Buffer, value: Buffer, noOverwrite: boolean): boolean {
    writeEpoch++;
    if (this.dup === 'none') return this.putI(w, key, value, noOverwrite ? NOOVERWRITE : REPLACE);
    if (noOverwrite && this.hasKey(w, key)) return false;
    if (this.dup === 'sorted') {
      const ik = encodeKey(key, value.length);
      checkLen(ik, 'key and value');
      value.copy(ik, ik.length - value.length);
      return this.putI(w, ik, EMPTY, KEEP);
    }
    // unsorted: sequence = last duplicate's + 1
    const hi = encodeKey(key, 0, true);
    this.locateW(w, hi);
    const d = this.depth;
    const ik = encodeKey(key, 8);
    const elen = ik.length - 8;
    let seqHi = 0;
    let seqLo = 0;
    const prev = this.predecessorKey(w);
    if (prev !== null && prev.length === elen + 8 && prev.compare(ik, 0, elen, 0, elen) === 0) {
      seqHi = u32be(prev, elen);
      seqLo = u32be(prev, elen + 4) + 1;
      if (seqLo > MAX_LEN) {
        seqLo = 0;
        seqHi++;
        if (seqHi > MAX_LEN) throw new CairnError('TOO_LARGE', 'duplicate sequence exhausted');
      }
    }
    ik.writeUInt32BE(seqHi, elen);
    ik.writeUInt32BE(seqLo, elen + 4);
    checkLen(ik, 'key');
    if (this.ix[d] === 0) {
      // The predecessor was in the previous leaf: the new key may belong there.
      const s = this.locateW(w, ik);
      assert(s < 0, 'fresh duplicate sequence not present');
    }
    this.insertLeaf(w, ik, value);
    return true;
  }

  /**
   * Removes key (every duplicate), or with value only the pair(s) equal to (key, value).
   * Returns the number of entries removed.
   */
  del(w: PageWriter, key: Buffer, value?: Buffer): number {
    writeEpoch++;
    key = asBuf(key, 'key');
    if (value !== undefined) value = asBuf(value, 'value');
    if (this.dup === 'none') {
      const s = this.locateW(w, key);
      if (s < 0) return 0;
      if (value !== undefined) {
        const p = w.page(this.pg[this.depth]);
        const v = leafValue(w, p, this.pg[this.depth], slot(p, s), false);
        if (!v.equals(value)) return 0;
      }
      this.deleteAt(w);
      return 1;
    }
    if (value === undefined) return this.deleteRange(w, encodeKey(key, 0), encodeKey(key, 0, true));
    if (this.dup === 'sorted') {
      const ik = encodeKey(key, value.length);
      value.copy(ik, ik.length - value.length);
      if (this.locateW(w, ik) < 0) return 0;
      this.deleteAt(w);
      return 1;
    }
    // unsorted (key, value): find the matching duplicates first, then delete them one by one.
    const victims: Buffer[] = [];
    const pos: Pos = { p: EMPTY, pgno: 0, i: 0 };
    const hi = encodeKey(key, 0, true);
    let ok = seekGE(w, this.root, encodeKey(key, 0), true, pos);
    while (ok) {
      const off = slot(pos.p, pos.i);
      if (cmpLeaf(w, hi, pos.p, pos.pgno, off, SLOTS + 2 * count(pos.p)) <= 0) break;
      if (leafValue(w, pos.p, pos.pgno, off, false).equals(value)) victims.push(leafKey(w, pos.p, pos.pgno, off, true));
      ok = stepNext(w, pos);
    }
    for (const ik of victims) {
      const s = this.locateW(w, ik);
      assert(s >= 0, 'duplicate found by the scan is present');
      this.deleteAt(w);
    }
    return victims.length;
  }

  /** Removes every entry and frees every page but the root; returns the number of entries. */
  truncate(w: PageWriter): number {
    writeEpoch++;
    this.cacheLeaf = null;
    const n = this.freeTree(w, false);
    initNode(writableWhole(w, this.root), LEAF);
    return n;
  }

  /** Frees every page of the tree, root included. The tree must not be used afterwards. */
  drop(w: PageWriter): void {
    writeEpoch++;
    this.cacheLeaf = null;
    this.freeTree(w, true);
  }

  // ---- write internals --------------------------------------------------------------------------

  private hasKey(r: PageReader, key: Buffer): boolean {
    const pos: Pos = { p: EMPTY, pgno: 0, i: 0 };
    if (!seekGE(r, this.root, encodeKey(key, 0), true, pos)) return false;
    return cmpLeaf(r, encodeKey(key, 0, true), pos.p, pos.pgno, slot(pos.p, pos.i), SLOTS + 2 * count(pos.p)) > 0;
  }

  /** The internal key just before the located insertion point, or null. */
  private predecessorKey(r: PageReader): Buffer | null {
    const d = this.depth;
    const pgno = this.pg[d];
    const p = r.page(pgno);
    const i = this.ix[d];
    if (i > 0) return leafKey(r, p, pgno, slot(p, i - 1), false);
    const pos: Pos = { p, pgno, i: 0 };
    if (!prevLeaf(r, pos)) return null;
    return leafKey(r, pos.p, pos.pgno, slot(pos.p, pos.i), false);
  }

  /**
   * Write descent: records the path to the leaf for ikey in pg/ix/depth and returns the leaf
   * search result (index if found, else ~insertion index).
   *
   * Append fast path: while writes go to the end of the tree (ascending loads), each page's
   * last key is compared first; a key above it takes the last child (or the end of the leaf)
   * without a binary search. One comparison per level when it misses, after which the
   * binary searches run as before; it is tried only while the previous descent was an append.
   *
   * Cached append path: when this tree's previous write (and no other write by any tree object
   * since: writeEpoch) was a non-splitting insert at the end of the rightmost leaf of the same
   * writer's private copy, a key above that leaf's last key goes there with no descent: the
   * recorded path is the one the descent would take (the key is above every key of the tree, so
   * every level takes its last child), and the result is the same.
   */
  private locateW(w: PageWriter, ikey: Buffer): number {
    const cl = this.cacheLeaf;
    this.cacheLeaf = null;
    this.hitLeaf = null;
    if (cl !== null && this.cacheEpoch === writeEpoch - 1 && appendCache.on) {
      const d = this.depth;
      const pgno = this.pg[d];
      const p = cl.page;
      // The same private copy of the leaf in this writer (never another writer's, nor a freed one).
      if (w.ranges?.get(pgno) === cl && w.page(pgno) === p) {
        const n = p[22] | (p[23] << 8);
        if (n > 0 && cmpLeaf(w, ikey, p, pgno, slot(p, n - 1), SLOTS + 2 * n) > 0) {
          this.ix[d] = n;
          this.appending = true;
          this.hitLeaf = cl;
          appendCache.hits++;
          return ~n;
        }
      }
    }
    return this.descendW(w, ikey);
  }

  /** locateW's descent from the root. */
  private descendW(r: PageReader, ikey: Buffer): number {
    let pgno = this.root;
    let skip = 0;
    let append = this.appending;
    loO = hiO = 0;
    for (let d = 0; d <= MAX_DEPTH; d++) {
      const p = r.page(pgno);
      const n = checkNode(p, pgno);
      this.pg[d] = pgno;
      if (p[H_TYPE] === LEAF) {
        checkLanding(r, p, pgno, this.root); // never a write into a page of the wrong tree (F13)
        let s: number;
        if (append && n > 0 && cmpLeaf(r, ikey, p, pgno, slot(p, n - 1), SLOTS + 2 * n, skip) > 0) s = ~n;
        else s = searchLeaf(r, p, pgno, ikey, skip);
        this.ix[d] = s < 0 ? ~s : s;
        this.depth = d;
        this.appending = s === ~n;
        return s;
      }
      let i: number;
      if (append && (n === 1 || cmpBranch(r, ikey, p, pgno, slot(p, n - 1), SLOTS + 2 * n, skip) >= 0)) {
        // Keys of the last child are >= its separator; the skip known so far still holds.
        i = n - 1;
      } else {
        append = false;
        i = searchBranch(r, p, pgno, ikey, skip);
        skip = skipOut;
      }
      this.ix[d] = i;
      narrow(r, p, pgno, n, i);
      pgno = childAt(p, pgno, i);
    }
    throw corrupt(pgno, 0, `tree deeper than ${MAX_DEPTH} levels`);
  }

  private putI(w: PageWriter, ikey: Buffer, ival: Buffer, mode: number): boolean {
    const s = this.locateW(w, ikey);
    if (s >= 0) {
      if (mode !== REPLACE) return mode === KEEP;
      // An identical inline value: nothing to write (the page is not even made writable).
      const pgno = this.pg[this.depth];
      const p = w.page(pgno);
      const off = slot(p, s);
      if ((p[off] & F_VOVF) === 0 && u16(p, off + 3) === ival.length) {
        const vo = off + LEAF_HDR + u16(p, off + 1);
        if (vo + ival.length <= p.length && memcmp2(ival, 0, ival.length, p, vo, ival.length) === 0) return true;
      }
      this.replaceAt(w, ikey, ival);
      return true;
    }
    this.insertLeaf(w, ikey, ival);
    return true;
  }

  /** Inserts a new entry at the located position (pg/ix/depth), splitting as needed. */
  private insertLeaf(w: PageWriter, ikey: Buffer, ival: Buffer): void {
    const ps = w.pageSize;
    const lay = leafLayout(ikey.length, ival.length, ps);
    const fl = lay & 3;
    const kin = lay >>> 2;
    const vin = fl & F_VOVF ? 0 : ival.length;
    const kref = fl & F_KOVF ? writeChain(w, ikey, kin, ikey.length - kin) : 0;
    const vref = fl & F_VOVF ? writeChain(w, ival, 0, ival.length) : 0;
    const size = LEAF_HDR + kin + vin + (fl & F_KOVF ? REF : 0) + (fl & F_VOVF ? REF : 0);
    const d = this.depth;
    const pgno = this.pg[d];
    const idx = this.ix[d];
    const hit = this.hitLeaf;
    this.hitLeaf = null;
    const dirty = hit !== null ? hit : track(w, pgno);
    const p = dirty.page;
    const off = reserve(p, pgno, idx, size, dirty);
    if (off >= 0) {
      writeLeafCell(p, off, fl, ikey, kin, kref, ival, vin, vref);
      if (!planted('ranges-skip-mark')) dirty.mark(off, off + size); // PLANT(ranges-skip-mark)
      if (idx === (p[22] | (p[23] << 8)) - 1 && u32(p, H_NEXT) === 0) {
        // An append to the rightmost leaf that did not split: the next one may skip the descent.
        this.cacheLeaf = dirty;
        this.cacheEpoch = writeEpoch;
      }
      return;
    }
    if (planted('append-cache-split')) [this.cacheLeaf, this.cacheEpoch] = [dirty, writeEpoch]; // PLANT(append-cache-split)
    const cell = Buffer.allocUnsafe(size);
    writeLeafCell(cell, 0, fl, ikey, kin, kref, ival, vin, vref);
    this.splitInsert(w, d, idx, cell);
  }

  /** Replaces the value of the located existing entry. */
  private replaceAt(w: PageWriter, ikey: Buffer, ival: Buffer): void {
    const d = this.depth;
    const pgno = this.pg[d];
    const idx = this.ix[d];
    const dirty = track(w, pgno);
    const p = dirty.page;
    const off = slot(p, idx);
    const osz = leafCellSize(p, pgno, off);
    freeLeafChains(w, p, pgno, off);
    const lay = leafLayout(ikey.length, ival.length, w.pageSize);
    const fl = lay & 3;
    const kin = lay >>> 2;
    const vin = fl & F_VOVF ? 0 : ival.length;
    const size = LEAF_HDR + kin + vin + (fl & F_KOVF ? REF : 0) + (fl & F_VOVF ? REF : 0);
    if (size === osz) {
      const kref = fl & F_KOVF ? writeChain(w, ikey, kin, ikey.length - kin) : 0;
      const vref = fl & F_VOVF ? writeChain(w, ival, 0, ival.length) : 0;
      writeLeafCell(p, off, fl, ikey, kin, kref, ival, vin, vref);
      dirty.mark(off, off + size);
      return;
    }
    removeSlot(p, pgno, idx, dirty);
    this.insertLeaf(w, ikey, ival);
  }

  /**
   * Inserts `cell` at slot idx of the full page at path level `level`, splitting it in two and
   * inserting the new separator in the parent (recursively). Must be the caller's last step:
   * a root push-down shifts the path.
   */
  private splitInsert(w: PageWriter, level: number, idx: number, cell: Buffer): void {
    if (level === 0) {
      this.pushDownRoot(w);
      level = 1;
    }
    const pgno = this.pg[level];
    const dirty = track(w, pgno);
    const p = dirty.page;
    const ps = p.length;
    const isLeaf = p[H_TYPE] === LEAF;
    const n = count(p);
    const { pgno: rpg, buf: rp } = w.allocate(isLeaf ? PageType.Leaf : PageType.Branch);
    initNode(rp, isLeaf ? LEAF : BRANCH);
    let sep: Buffer;
    if (idx === n) {
      // Append: keep the page as it is; the new cell alone starts the right sibling.
      if (isLeaf) {
        const o = reserve(rp, rpg, 0, cell.length);
        cell.copy(rp, o);
        sep = this.separator(w, p, slot(p, n - 1), cell, 0, pgno, rpg);
      } else {
        writeStub(rp, rpg, 0, u32(cell, 0));
        sep = cell;
        setU32(sep, 0, rpg);
      }
    } else {
      dirty.markAll(); // both halves are rewritten
      if (splitScratch.length < ps) splitScratch = Buffer.alloc(ps);
      const S = splitScratch;
      p.copy(S, 0, 0, ps);
      const m = n + 1;
      const offs = this.itOff;
      const sizes = this.itSz;
      let total = 0;
      for (let j = 0; j < m; j++) {
        if (j === idx) {
          offs[j] = -1;
          sizes[j] = cell.length;
        } else {
          const off = slot(S, j < idx ? j : j - 1);
          offs[j] = off;
          sizes[j] = isLeaf ? leafCellSize(S, pgno, off) : branchCellSize(S, pgno, off);
        }
        total += sizes[j] + 2;
      }
      let k: number;
      if (isLeaf && idx === 0) k = 1; // descending load: the new cell alone on the left
      else {
        const half = total / 2;
        let acc = 0;
        k = 0;
        while (k < m && acc + sizes[k] + 2 <= half) acc += sizes[k++] + 2;
        if (k < m && half - acc > acc + sizes[k] + 2 - half) k++;
        if (k < 1) k = 1;
        if (k > m - 1) k = m - 1;
      }
      // Left: items [0, k) back into p (header links kept).
      setU16(p, H_COUNT, 0);
      setUpper(p, ps);
      setU16(p, H_FRAG, 0);
      for (let j = 0; j < k; j++) {
        const src = offs[j] < 0 ? cell : S;
        const so = offs[j] < 0 ? 0 : offs[j];
        const o = reserve(p, pgno, j, sizes[j]);
        assert(o >= 0, 'left half of a split fits');
        src.copy(p, o, so, so + sizes[j]);
      }
      // Right: items [k, m) into rp; for a branch, item k's key moves up and its child stays.
      let j0 = k;
      if (!isLeaf) {
        writeStub(rp, rpg, 0, u32(offs[k] < 0 ? cell : S, offs[k] < 0 ? 0 : offs[k]));
        j0 = k + 1;
      }
      for (let j = j0; j < m; j++) {
        const src = offs[j] < 0 ? cell : S;
        const so = offs[j] < 0 ? 0 : offs[j];
        const o = reserve(rp, rpg, count(rp), sizes[j]);
        assert(o >= 0, 'right half of a split fits');
        src.copy(rp, o, so, so + sizes[j]);
      }
      if (isLeaf) {
        const lsrc = offs[k - 1] < 0 ? cell : S;
        const rsrc = offs[k] < 0 ? cell : S;
        sep = this.separator(w, lsrc, offs[k - 1] < 0 ? 0 : offs[k - 1], rsrc, offs[k] < 0 ? 0 : offs[k], pgno, rpg);
      } else {
        sep = offs[k] < 0 ? cell : copyOf(S, offs[k], offs[k] + sizes[k]);
        setU32(sep, 0, rpg);
      }
    }
    if (isLeaf) {
      const nx = u32(p, H_NEXT);
      setU32(rp, H_PREV, pgno);
      setU32(rp, H_NEXT, nx);
      setU32(p, H_NEXT, rpg);
      dirty.mark(H_NEXT, H_NEXT + 4);
      if (nx !== 0) setLink(w, nx, H_PREV, rpg);
    }
    const pl = level - 1;
    const ppg = this.pg[pl];
    const pidx = this.ix[pl] + 1;
    const pd = track(w, ppg);
    const pp = pd.page;
    const o = reserve(pp, ppg, pidx, sep.length, pd);
    if (o >= 0) {
      sep.copy(pp, o);
      pd.mark(o, o + sep.length);
    } else this.splitInsert(w, pl, pidx, sep);
  }

  /**
   * The branch cell for a leaf split between the leaf cells at (lb, lo) and (rb, ro): child and
   * the shortest prefix of the right key greater than the left key.
   */
  private separator(w: PageWriter, lb: Buffer, lo: number, rb: Buffer, ro: number, owner: number, child: number): Buffer {
    const lfl = lb[lo];
    const lkin = u16(lb, lo + 1);
    const rkin = u16(rb, ro + 1);
    const lcp = commonPrefix(lb, lo + LEAF_HDR, lkin, rb, ro + LEAF_HDR, rkin);
    let key: Buffer;
    if (lcp < rkin && (lcp < lkin || (lfl & F_KOVF) === 0)) key = rb.subarray(ro + LEAF_HDR, ro + LEAF_HDR + lcp + 1);
    else {
      const lk = leafKey(w, lb, owner, lo, false);
      const rk = leafKey(w, rb, owner, ro, false);
      const c = commonPrefix(lk, 0, lk.length, rk, 0, rk.length);
      assert(c < rk.length && Buffer.compare(lk, rk) < 0, 'split keys in order');
      key = rk.subarray(0, c + 1);
    }
    return this.branchCell(w, child, key);
  }

  /** A branch cell (child, key), moving the key to an overflow chain if it is too long. */
  private branchCell(w: PageWriter, child: number, key: Buffer): Buffer {
    const ps = w.pageSize;
    const kl = key.length;
    if (BRANCH_HDR + kl <= maxCell(ps)) {
      const cell = Buffer.allocUnsafe(BRANCH_HDR + kl);
      setU32(cell, 0, child);
      cell[4] = 0;
      setU16(cell, 5, kl);
      key.copy(cell, BRANCH_HDR);
      return cell;
    }
    const kp = keyPrefix(ps);
    const ref = writeChain(w, key, kp, kl - kp);
    const cell = Buffer.allocUnsafe(BRANCH_HDR + kp + REF);
    setU32(cell, 0, child);
    cell[4] = F_KOVF;
    setU16(cell, 5, kp);
    key.copy(cell, BRANCH_HDR, 0, kp);
    setU32(cell, BRANCH_HDR + kp, kl);
    setU32(cell, BRANCH_HDR + kp + 4, ref);
    return cell;
  }

  /** Moves the root's contents to a new page and makes the root a branch with that one child. */
  private pushDownRoot(w: PageWriter): void {
    const rp = writableWhole(w, this.root);
    const ps = rp.length;
    const { pgno: c, buf: cb } = w.allocate(rp[H_TYPE] === LEAF ? PageType.Leaf : PageType.Branch);
    rp.copy(cb, H_TYPE, H_TYPE, ps);
    setU32(cb, H_NEXT, 0);
    setU32(cb, H_PREV, 0);
    initNode(rp, BRANCH);
    writeStub(rp, this.root, 0, c);
    for (let l = this.depth; l >= 0; l--) {
      this.pg[l + 1] = this.pg[l];
      this.ix[l + 1] = this.ix[l];
    }
    this.pg[1] = c;
    this.ix[0] = 0;
    this.depth++;
  }

  /** Deletes the located entry (pg/ix/depth) and rebalances. */
  private deleteAt(w: PageWriter): void {
    const d = this.depth;
    const pgno = this.pg[d];
    const idx = this.ix[d];
    const dirty = track(w, pgno);
    const p = dirty.page;
    freeLeafChains(w, p, pgno, slot(p, idx));
    removeSlot(p, pgno, idx, dirty);
    this.rebalance(w, d);
  }

  /** Deletes every entry with lo <= internal key < hi. */
  private deleteRange(w: PageWriter, lo: Buffer, hi: Buffer): number {
    let removed = 0;
    for (;;) {
      this.locateW(w, lo);
      const d = this.depth;
      let p = w.page(this.pg[d]);
      if (this.ix[d] >= count(p)) {
        if (!this.nextLeafPath(w)) return removed;
        p = w.page(this.pg[d]);
      }
      const pgno = this.pg[d];
      const idx = this.ix[d];
      const n = count(p);
      const se = SLOTS + 2 * n;
      let end = idx;
      while (end < n && cmpLeaf(w, hi, p, pgno, slot(p, end), se) > 0) end++;
      if (end === idx) return removed;
      const dirty = track(w, pgno);
      const pw = dirty.page;
      for (let j = end - 1; j >= idx; j--) {
        freeLeafChains(w, pw, pgno, slot(pw, j));
        removeSlot(pw, pgno, j, dirty);
      }
      removed += end - idx;
      this.rebalance(w, d);
      if (end < n) return removed;
    }
  }

  /** Moves the recorded path to the next leaf (index 0); false at the last leaf. */
  private nextLeafPath(r: PageReader): boolean {
    const depth = this.depth;
    for (let l = depth - 1; l >= 0; l--) {
      const p = r.page(this.pg[l]);
      if (this.ix[l] + 1 >= count(p)) continue;
      this.ix[l]++;
      let pgno = childAt(p, this.pg[l], this.ix[l]);
      for (let m = l + 1; m <= depth; m++) {
        const q = r.page(pgno);
        checkNode(q, pgno);
        this.pg[m] = pgno;
        this.ix[m] = 0;
        const want = m === depth ? LEAF : BRANCH;
        if (q[H_TYPE] !== want) throw corrupt(pgno, H_TYPE, `expected page type ${want} at depth ${m}, found ${q[H_TYPE]}`);
        if (m < depth) pgno = childAt(q, pgno, 0);
      }
      return true;
    }
    return false;
  }

  /** Restores the invariants after entries were removed from the page at path level `level`. */
  private rebalance(w: PageWriter, level: number): void {
    const minUsed = (w.pageSize - SLOTS) >> 2;
    while (level > 0) {
      const pgno = this.pg[level];
      const p = w.page(pgno);
      const n = count(p);
      const isLeaf = p[H_TYPE] === LEAF;
      const pl = level - 1;
      const ppg = this.pg[pl];
      const pi = this.ix[pl];
      if (n === 0) {
        if (isLeaf) this.unlinkLeaf(w, p);
        this.removeChild(w, ppg, pi, true);
        w.free(pgno);
        level = pl;
        continue;
      }
      if (bodyUsed(p) >= minUsed) return;
      const pp = w.page(ppg);
      const pn = count(pp);
      if (pi > 0) {
        const left = childAt(pp, ppg, pi - 1);
        if (this.tryMerge(w, left, pgno, ppg, pi)) {
          this.removeChild(w, ppg, pi, isLeaf);
          w.free(pgno);
          level = pl;
          continue;
        }
      }
      if (pi + 1 < pn) {
        const right = childAt(pp, ppg, pi + 1);
        if (this.tryMerge(w, pgno, right, ppg, pi + 1)) {
          this.removeChild(w, ppg, pi + 1, isLeaf);
          w.free(right);
          level = pl;
          continue;
        }
      }
      return;
    }
    this.collapseRoot(w);
  }

  /** Unlinks a leaf from its siblings. */
  private unlinkLeaf(w: PageWriter, p: Buffer): void {
    const pv = u32(p, H_PREV);
    const nx = u32(p, H_NEXT);
    if (pv !== 0) setLink(w, pv, H_NEXT, nx);
    if (nx !== 0) setLink(w, nx, H_PREV, pv);
  }

  /**
   * Merges page rpg into its left sibling lpg when both fit in one page (ri = rpg's index in the
   * parent ppg). Returns false when they do not fit. The caller removes rpg from the parent.
   */
  private tryMerge(w: PageWriter, lpg: number, rpg: number, ppg: number, ri: number): boolean {
    const lp = w.page(lpg);
    const rp = w.page(rpg);
    checkNode(lp, lpg);
    const rn = checkNode(rp, rpg);
    if (lp[H_TYPE] !== rp[H_TYPE]) throw corrupt(rpg, H_TYPE, `sibling pages ${lpg} and ${rpg} have different types`);
    const isLeaf = lp[H_TYPE] === LEAF;
    let extra = 0;
    let pp = EMPTY;
    let sepOff = 0;
    let sepSz = 0;
    if (!isLeaf) {
      pp = w.page(ppg);
      sepOff = slot(pp, ri);
      sepSz = branchCellSize(pp, ppg, sepOff);
      extra = sepSz - BRANCH_HDR;
    }
    if (bodyUsed(lp) + bodyUsed(rp) + extra > w.pageSize - SLOTS) return false;
    const lw = writableWhole(w, lpg);
    let i0 = 0;
    if (!isLeaf) {
      const c0 = childAt(rp, rpg, 0);
      const o = reserve(lw, lpg, count(lw), sepSz);
      assert(o >= 0, 'merged branch fits');
      pp.copy(lw, o, sepOff, sepOff + sepSz);
      setU32(lw, o, c0);
      i0 = 1;
    }
    for (let i = i0; i < rn; i++) {
      const off = slot(rp, i);
      const sz = isLeaf ? leafCellSize(rp, rpg, off) : branchCellSize(rp, rpg, off);
      const o = reserve(lw, lpg, count(lw), sz);
      assert(o >= 0, 'merged page fits');
      rp.copy(lw, o, off, off + sz);
    }
    if (isLeaf) {
      const nx = u32(rp, H_NEXT);
      setU32(lw, H_NEXT, nx);
      if (nx !== 0) setLink(w, nx, H_PREV, lpg);
    }
    return true;
  }

  /**
   * Removes child i from branch ppg. freeKey: free the separator's overflow chain (false when a
   * branch merge moved the separator down). Removing child 0 drops child 1's separator.
   */
  private removeChild(w: PageWriter, ppg: number, i: number, freeKey: boolean): void {
    const dirty = track(w, ppg);
    const p = dirty.page;
    if (i === 0) {
      removeSlot(p, ppg, 0, dirty);
      if (count(p) === 0) return;
      const off = slot(p, 0);
      branchCellSize(p, ppg, off);
      if (u16(p, off + 5) === 0 && p[off + 4] === 0) return;
      const child = childAt(p, ppg, 0);
      freeBranchChain(w, p, ppg, off);
      removeSlot(p, ppg, 0, dirty);
      writeStub(p, ppg, 0, child, dirty);
      return;
    }
    const off = slot(p, i);
    branchCellSize(p, ppg, off);
    if (freeKey) freeBranchChain(w, p, ppg, off);
    removeSlot(p, ppg, i, dirty);
  }

  /** While the root is a branch with at most one child, pulls the child up into the root. */
  private collapseRoot(w: PageWriter): void {
    for (let guard = 0; guard <= MAX_DEPTH; guard++) {
      const rp = w.page(this.root);
      if (rp[H_TYPE] !== BRANCH) return;
      const n = count(rp);
      if (n > 1) return;
      const rw = writableWhole(w, this.root);
      if (n === 0) {
        initNode(rw, LEAF);
        return;
      }
      const c = childAt(rw, this.root, 0);
      const cp = w.page(c);
      checkNode(cp, c);
      cp.copy(rw, H_TYPE, H_TYPE, rw.length);
      setU32(rw, H_NEXT, 0);
      setU32(rw, H_PREV, 0);
      w.free(c);
    }
  }

  /** Frees all pages of the tree (but the root unless withRoot); returns the entry count. */
  private freeTree(w: PageWriter, withRoot: boolean): number {
    let entries = 0;
    const seen = new Set<number>();
    const visit = (pgno: number, depth: number): void => {
      if (depth > MAX_DEPTH) throw corrupt(pgno, 0, `tree deeper than ${MAX_DEPTH} levels`);
      if (seen.has(pgno)) throw corrupt(pgno, 0, 'page reached twice in the tree');
      seen.add(pgno);
      const p = w.page(pgno);
      const n = checkNode(p, pgno);
      if (p[H_TYPE] === LEAF) {
        for (let i = 0; i < n; i++) {
          const off = slot(p, i);
          leafCellSize(p, pgno, off);
          freeLeafChains(w, p, pgno, off);
        }
        entries += n;
      } else {
        for (let i = 0; i < n; i++) {
          const off = slot(p, i);
          branchCellSize(p, pgno, off);
          freeBranchChain(w, p, pgno, off);
          visit(childAt(p, pgno, i), depth + 1);
        }
      }
      if (pgno !== this.root || withRoot) w.free(pgno);
    };
    visit(this.root, 0);
    return entries;
  }

  // ---- whole-tree walks ---------------------------------------------------------------------

  /** Visits every leaf and branch page (pre-order), checking headers; guards against cycles. */
  private walkNodes(r: PageReader, fn: (p: Buffer, pgno: number, depth: number) => void): void {
    const seen = new Set<number>();
    const visit = (pgno: number, depth: number): void => {
      if (depth > MAX_DEPTH) throw corrupt(pgno, 0, `tree deeper than ${MAX_DEPTH} levels`);
      if (seen.has(pgno)) throw corrupt(pgno, 0, 'page reached twice in the tree');
      seen.add(pgno);
      const p = r.page(pgno);
      const n = checkNode(p, pgno);
      fn(p, pgno, depth);
      if (p[H_TYPE] === BRANCH) for (let i = 0; i < n; i++) visit(childAt(p, pgno, i), depth + 1);
    };
    visit(this.root, 0);
  }

  /** Calls visit for every overflow chain referenced by the node page p. */
  private nodeChains(r: PageReader, p: Buffer, pgno: number, visit: (ovfPgno: number) => void): number {
    const n = count(p);
    let pages = 0;
    const leaf = p[H_TYPE] === LEAF;
    for (let i = 0; i < n; i++) {
      const off = slot(p, i);
      if (leaf) {
        leafCellSize(p, pgno, off);
        const fl = p[off];
        if (fl === 0) continue;
        const kin = u16(p, off + 1);
        let ro = off + LEAF_HDR + kin + u16(p, off + 3);
        if (fl & F_KOVF) {
          pages += walkChain(r, u32(p, ro + 4), u32(p, ro) - kin, pgno, ro, visit);
          ro += REF;
        }
        if (fl & F_VOVF) pages += walkChain(r, u32(p, ro + 4), u32(p, ro), pgno, ro, visit);
      } else {
        branchCellSize(p, pgno, off);
        if ((p[off + 4] & F_KOVF) === 0) continue;
        const kin = u16(p, off + 5);
        const ro = off + BRANCH_HDR + kin;
        pages += walkChain(r, u32(p, ro + 4), u32(p, ro) - kin, pgno, ro, visit);
      }
    }
    return pages;
  }

  /** Visits every page of the tree: leaves, branches and overflow pages. */
  walkPages(r: PageReader, visit: (pgno: number, type: number) => void): void {
    this.walkNodes(r, (p, pgno) => {
      visit(pgno, p[H_TYPE]);
      this.nodeChains(r, p, pgno, (o) => visit(o, OVERFLOW));
    });
  }

  stat(r: PageReader): TreeStat {
    let levels = 0;
    let leafPages = 0;
    let branchPages = 0;
    let overflowPages = 0;
    let entries = 0;
    let used = 0;
    this.walkNodes(r, (p, pgno, depth) => {
      if (depth + 1 > levels) levels = depth + 1;
      if (p[H_TYPE] === LEAF) {
        leafPages++;
        entries += count(p);
      } else branchPages++;
      used += bodyUsed(p);
      overflowPages += this.nodeChains(r, p, pgno, () => {});
    });
    const pages = leafPages + branchPages;
    return { levels, leafPages, branchPages, overflowPages, entries, fillFactor: used / (pages * (r.pageSize - SLOTS)) };
  }

  /**
   * Checks the whole tree; returns a list of problems ([] when sound): page types per level, page
   * headers and cell bounds, key order within and across pages, separator bounds, sibling links,
   * empty pages, overflow chains (types, byte counts, lengths), duplicate-key encoding, pages
   * reached twice.
   */
  verify(r: PageReader): string[] {
    const problems: string[] = [];
    const add = (s: string): void => {
      if (problems.length < 200) problems.push(s);
    };
    const ps = r.pageSize;
    const seen = new Set<number>();
    const leaves: number[] = [];
    let leafDepth = -1;
    const chain = (owner: number, ro: number, first: number, len: number): void => {
      try {
        walkChain(r, first, len, owner, ro, (o) => {
          if (seen.has(o)) add(`page ${o}: overflow page reached twice (from page ${owner})`);
          seen.add(o);
        });
      } catch (e) {
        add(`page ${owner}: overflow chain at offset ${ro}: ${(e as Error).message}`);
      }
    };
    const visit = (pgno: number, depth: number, lo: Buffer | null, hi: Buffer | null): void => {
      if (depth > MAX_DEPTH) {
        add(`page ${pgno}: deeper than ${MAX_DEPTH} levels`);
        return;
      }
      if (seen.has(pgno)) {
        add(`page ${pgno}: reached twice`);
        return;
      }
      seen.add(pgno);
      let p: Buffer;
      try {
        p = r.page(pgno);
      } catch (e) {
        add(`page ${pgno}: unreadable: ${(e as Error).message}`);
        return;
      }
      if (p.length !== ps) add(`page ${pgno}: length ${p.length} is not the page size ${ps}`);
      const t = p[H_TYPE];
      if (t !== LEAF && t !== BRANCH) {
        add(`page ${pgno}: type ${t} where a leaf or branch page belongs`);
        return;
      }
      const n = count(p);
      const up = upper(p);
      if (SLOTS + 2 * n > up || up > ps) {
        add(`page ${pgno}: count ${n} and cell area start ${up} are impossible`);
        return;
      }
      // Cells: bounds, no overlap, accounting.
      const spans: [number, number][] = [];
      for (let i = 0; i < n; i++) {
        const off = slot(p, i);
        let sz: number;
        try {
          sz = t === LEAF ? leafCellSize(p, pgno, off) : branchCellSize(p, pgno, off);
        } catch {
          add(`page ${pgno}: slot ${i} cell at ${off} outside the page or malformed`);
          return;
        }
        if (off < up) {
          add(`page ${pgno}: slot ${i} cell at ${off} below the cell area start ${up}`);
          return;
        }
        spans.push([off, sz]);
      }
      spans.sort((a, b) => a[0] - b[0]);
      let live = 0;
      for (let i = 0; i < spans.length; i++) {
        live += spans[i][1];
        if (i > 0 && spans[i - 1][0] + spans[i - 1][1] > spans[i][0]) add(`page ${pgno}: cells at ${spans[i - 1][0]} and ${spans[i][0]} overlap`);
      }
      if (live + u16(p, H_FRAG) !== ps - up) add(`page ${pgno}: live cell bytes ${live} + fragmented ${u16(p, H_FRAG)} != cell area ${ps - up}`);
      if (t === LEAF) {
        if (leafDepth < 0) leafDepth = depth;
        else if (depth !== leafDepth) add(`page ${pgno}: leaf at depth ${depth}, other leaves at depth ${leafDepth}`);
        if (n === 0 && pgno !== this.root) add(`page ${pgno}: empty non-root leaf`);
        leaves.push(pgno);
        let prev: Buffer | null = null;
        for (let i = 0; i < n; i++) {
          const off = slot(p, i);
          let k: Buffer;
          try {
            k = leafKey(r, p, pgno, off, false);
          } catch (e) {
            add(`page ${pgno}: entry ${i} key unreadable: ${(e as Error).message}`);
            continue;
          }
          const fl = p[off];
          const kin = u16(p, off + 1);
          const vin = u16(p, off + 3);
          let ro = off + LEAF_HDR + kin + vin;
          if (fl & F_KOVF) {
            if (k.length <= kin) add(`page ${pgno}: entry ${i} overflow key no longer than its prefix`);
            chain(pgno, ro, u32(p, ro + 4), u32(p, ro) - kin);
            ro += REF;
          }
          if (fl & F_VOVF) chain(pgno, ro, u32(p, ro + 4), u32(p, ro));
          if (prev !== null && Buffer.compare(prev, k) >= 0) add(`page ${pgno}: entry ${i} not above entry ${i - 1}`);
          if (lo !== null && Buffer.compare(k, lo) < 0) add(`page ${pgno}: entry ${i} below its separator bound`);
          if (hi !== null && Buffer.compare(k, hi) >= 0) add(`page ${pgno}: entry ${i} not below its separator bound`);
          if (this.dup !== 'none') {
            const tt = terminatorAt(k, 0, k.length);
            if (tt < 0) add(`page ${pgno}: entry ${i} is not a valid duplicate key`);
            else if (this.dup === 'unsorted' && k.length !== tt + 10) add(`page ${pgno}: entry ${i} unsorted duplicate without 8-byte sequence`);
            if (this.dup === 'sorted' && ((fl & F_VOVF) !== 0 || vin !== 0)) add(`page ${pgno}: entry ${i} sorted duplicate with a stored value`);
          }
          prev = k;
        }
        return;
      }
      // Branch.
      if (u32(p, H_NEXT) !== 0 || u32(p, H_PREV) !== 0) add(`page ${pgno}: branch page with sibling links`);
      if (n === 0) {
        add(`page ${pgno}: branch with no children`);
        return;
      }
      const off0 = slot(p, 0);
      if (p[off0 + 4] !== 0 || u16(p, off0 + 5) !== 0) add(`page ${pgno}: first branch cell has a key`);
      const seps: (Buffer | null)[] = [lo];
      for (let i = 1; i < n; i++) {
        const off = slot(p, i);
        let k: Buffer | null = null;
        try {
          k = branchKey(r, p, pgno, off);
          if (p[off + 4] & F_KOVF) {
            const kin = u16(p, off + 5);
            const ro = off + BRANCH_HDR + kin;
            chain(pgno, ro, u32(p, ro + 4), u32(p, ro) - kin);
          }
        } catch (e) {
          add(`page ${pgno}: separator ${i} unreadable: ${(e as Error).message}`);
        }
        if (k !== null) {
          const before = seps[i - 1];
          if (before !== null && Buffer.compare(before, k) >= 0) add(`page ${pgno}: separator ${i} not above the previous bound`);
          if (hi !== null && Buffer.compare(k, hi) >= 0) add(`page ${pgno}: separator ${i} not below the upper bound`);
        }
        seps.push(k ?? seps[i - 1]);
      }
      for (let i = 0; i < n; i++) {
        let c: number;
        try {
          c = childAt(p, pgno, i);
        } catch (e) {
          add(`page ${pgno}: child ${i}: ${(e as Error).message}`);
          continue;
        }
        visit(c, depth + 1, seps[i], i + 1 < n ? seps[i + 1] : hi);
      }
    };
    visit(this.root, 0, null, null);
    for (let i = 0; i < leaves.length; i++) {
      const p = r.page(leaves[i]);
      const wantPrev = i > 0 ? leaves[i - 1] : 0;
      const wantNext = i + 1 < leaves.length ? leaves[i + 1] : 0;
      if (u32(p, H_PREV) !== wantPrev) add(`page ${leaves[i]}: prev link ${u32(p, H_PREV)}, expected ${wantPrev}`);
      if (u32(p, H_NEXT) !== wantNext) add(`page ${leaves[i]}: next link ${u32(p, H_NEXT)}, expected ${wantNext}`);
    }
    return problems;
  }
}

function u32be(b: Buffer, o: number): number {
  return b.readUInt32BE(o);
}

const UNSET = 0;
const ON = 1;
const BEFORE = 2;
const AFTER = 3;

class TreeCursor implements Cursor {
  private readonly pos: Pos = { p: EMPTY, pgno: 0, i: 0 };
  private state = UNSET;

  constructor(
    private readonly t: BTree,
    private readonly r: PageReader,
  ) {}

  private land(ok: boolean, end: number): [Buffer, Buffer] | undefined {
    if (!ok) {
      this.state = end;
      return undefined;
    }
    this.state = ON;
    const pos = this.pos;
    loadEntry(this.t.dup, this.r, pos.p, pos.pgno, slot(pos.p, pos.i), true);
    return [entK, entV];
  }

  first(): [Buffer, Buffer] | undefined {
    descendEdge(this.r, this.t.root, false, this.pos);
    return this.land(count(this.pos.p) > 0, AFTER);
  }

  last(): [Buffer, Buffer] | undefined {
    descendEdge(this.r, this.t.root, true, this.pos);
    return this.land(count(this.pos.p) > 0, BEFORE);
  }

  seek(key: Buffer): [Buffer, Buffer] | undefined {
    key = asBuf(key, 'key');
    const ik = this.t.dup === 'none' ? key : encodeKey(key, 0);
    return this.land(seekGE(this.r, this.t.root, ik, true, this.pos), AFTER);
  }

  seekLast(key: Buffer): [Buffer, Buffer] | undefined {
    key = asBuf(key, 'key');
    const ok = this.t.dup === 'none' ? seekLE(this.r, this.t.root, key, true, this.pos) : seekLE(this.r, this.t.root, encodeKey(key, 0, true), false, this.pos);
    return this.land(ok, BEFORE);
  }

  next(): [Buffer, Buffer] | undefined {
    switch (this.state) {
      case ON:
        return this.land(stepNext(this.r, this.pos), AFTER);
      case AFTER:
        return undefined;
      default:
        return this.first();
    }
  }

  prev(): [Buffer, Buffer] | undefined {
    switch (this.state) {
      case ON:
        return this.land(stepPrev(this.r, this.pos), BEFORE);
      case BEFORE:
        return undefined;
      default:
        return this.last();
    }
  }
}
