// B-tree search: key comparison in place, binary search of leaf and branch pages, key and value
// extraction, descent with the separator-bound checks, and positioning (seek, step) over a
// PageReader. The read-side half of bt_search; the write descent (put.ts) builds on it. The
// page layout is in FORMAT.md; the design in btree.ts.

import type { PageReader } from '../page/store.js';
import { type CairnError, invalid } from '../util/errors.js';
import {
  BRANCH_HDR,
  F_KOVF,
  F_VOVF,
  H_COUNT,
  H_NEXT,
  H_PREV,
  H_TYPE,
  LEAF,
  LEAF_HDR,
  MAX_DEPTH,
  REF,
  SLOTS,
  chainBuffer,
  checkNode,
  childAt,
  compareChain,
  corrupt,
  count,
  slot,
  u16,
  u32,
} from './page.js';
import { copyOf, memcmp2, terminatorAt, unescapeKey } from './keys.js';

/** Duplicate keys: 'none', 'sorted' (a key's values in memcmp order) or 'unsorted' (insertion order). */
export type DupMode = 'none' | 'sorted' | 'unsorted';

export const EMPTY: Buffer = Buffer.alloc(0);

/** What the read functions need to know of a tree (BTree, WritePath). */
export interface TreeRef {
  readonly root: number;
  readonly dup: DupMode;
}

/**
 * The read path's out-parameters and per-descent state, in one module-level object: every
 * B-tree operation is synchronous (it never suspends mid-operation), so one instance serves every
 * tree and reader, and a search allocates nothing for its results. Each field is valid only right
 * after the call that sets it, until the next search.
 */
export interface SearchScratch {
  /** Set by cmpLeaf/cmpBranch: how many leading bytes of the search key matched the stored key. */
  lcp: number;
  /**
   * Set by searchBranch (and by descend for the leaf it lands on): bytes every key under the
   * chosen child is known to share with the search key, where the next search may start.
   */
  skip: number;
  /** Low separator bound of the current descent: branch page, its number, cell offset (0: none). */
  loP: Buffer;
  loPg: number;
  loO: number;
  /** High separator bound of the current descent, as loP/loPg/loO. */
  hiP: Buffer;
  hiPg: number;
  hiO: number;
  /** The branch pages of the last descend from the root down: page, number, child taken; pathD levels. */
  pathP: Buffer[];
  pathG: number[];
  pathI: number[];
  pathD: number;
  /** Set by loadEntry: the user key and value of the entry it decoded. */
  entK: Buffer;
  entV: Buffer;
}

export const S: SearchScratch = {
  lcp: 0,
  skip: 0,
  loP: EMPTY,
  loPg: 0,
  loO: 0,
  hiP: EMPTY,
  hiPg: 0,
  hiO: 0,
  pathP: [],
  pathG: [],
  pathI: [],
  pathD: 0,
  entK: EMPTY,
  entV: EMPTY,
};

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
// bytes with s. Each comparison reports (in `S.lcp`) how many leading bytes matched, the
// searches narrow the bounds, and a branch search hands the skip for the chosen child to the
// next level (`S.skip`), since a child's keys lie between its two separators.

/**
 * memcmp(key, the inline stored key p[ko..ko+kin)), starting at byte `from` (the bytes before it
 * are known to be equal); sets S.lcp. The one copy of the comparison loop of the binary searches
 * (cmpLeaf, cmpBranch): small enough for V8 to inline into both.
 */
function cmpInline(key: Buffer, p: Buffer, ko: number, kin: number, from: number): number {
  const kl = key.length;
  const n = kl < kin ? kl : kin;
  for (let i = from; i < n; i++) {
    const d = key[i] - p[ko + i];
    if (d !== 0) {
      S.lcp = i;
      return d;
    }
  }
  S.lcp = n;
  return kl - kin;
}

/** memcmp(key, key of the leaf cell at off), starting at byte `from`; sets S.lcp. */
export function cmpLeaf(r: PageReader, key: Buffer, p: Buffer, pgno: number, off: number, se: number, from = 0): number {
  const fl = p[off];
  const kin = p[off + 1] | (p[off + 2] << 8);
  const ko = off + LEAF_HDR;
  if (off < se || ko + kin > p.length) throw badCell(pgno, off);
  if (fl === 0 || fl === F_VOVF) {
    return cmpInline(key, p, ko, kin, from);
  }
  if (fl > 3) throw badCell(pgno, off);
  const ro = ko + kin + (p[off + 3] | (p[off + 4] << 8));
  if (ro + REF > p.length) throw badCell(pgno, off);
  S.lcp = 0;
  return cmpOvfKey(r, key, p, pgno, ko, kin, ro);
}

/** memcmp(key, separator of the branch cell at off), starting at byte `from`; sets S.lcp. */
export function cmpBranch(r: PageReader, key: Buffer, p: Buffer, pgno: number, off: number, se: number, from: number): number {
  const fl = p[off + 4];
  const kin = p[off + 5] | (p[off + 6] << 8);
  const ko = off + BRANCH_HDR;
  if (off < se || ko + kin > p.length) throw badCell(pgno, off);
  if (fl === 0) {
    return cmpInline(key, p, ko, kin, from);
  }
  if (fl !== F_KOVF || ko + kin + REF > p.length) throw badCell(pgno, off);
  S.lcp = 0;
  return cmpOvfKey(r, key, p, pgno, ko, kin, ko + kin);
}

/**
 * Binary search of a leaf: the index of key if present, else ~(insertion index). skip = bytes
 * every key of the page is known to share with key (0 if unknown).
 */
export function searchLeaf(r: PageReader, p: Buffer, pgno: number, key: Buffer, skip = 0): number {
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
      llcp = S.lcp;
    } else if (c < 0) {
      hi = mid;
      rlcp = S.lcp;
    } else return mid;
  }
  return ~lo;
}

/** Binary search of a branch: the index of the child whose range holds key; sets S.skip. */
export function searchBranch(r: PageReader, p: Buffer, pgno: number, key: Buffer, skip: number): number {
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
      llcp = S.lcp;
    } else {
      hi = mid;
      rlcp = S.lcp;
    }
  }
  S.skip = llcp < rlcp ? llcp : rlcp;
  return lo - 1;
}

/** The key of the leaf cell at off: a view of the page when inline (unless copy), else read. */
export function leafKey(r: PageReader, p: Buffer, pgno: number, off: number, copy: boolean): Buffer {
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
export function leafValue(r: PageReader, p: Buffer, pgno: number, off: number, copy: boolean): Buffer {
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
export function branchKey(r: PageReader, p: Buffer, pgno: number, off: number): Buffer {
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

// ---- navigation over a reader -----------------------------------------------------------------

/** A position on a leaf entry. */
export interface Pos {
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
// The bounds live in the scratch (S.loP/S.loPg/S.loO and S.hiP/S.hiPg/S.hiO).

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
 * against every pair on the path. Call with the bounds cleared (S.loO = S.hiO = 0) at the root.
 */
export function narrow(r: PageReader, p: Buffer, pgno: number, n: number, i: number): void {
  if (i > 0) {
    const so = SLOTS + 2 * i;
    const o = p[so] | (p[so + 1] << 8);
    if (S.loO !== 0 && cmpSeps(r, p, pgno, o, S.loP, S.loPg, S.loO) < 0) throw outOfPlace(pgno, o, 'separator below the low bound', S.loPg);
    S.loP = p;
    S.loPg = pgno;
    S.loO = o;
  }
  if (i + 1 < n) {
    const so = SLOTS + 2 * i + 2;
    const o = p[so] | (p[so + 1] << 8);
    if (S.hiO !== 0 && cmpSeps(r, p, pgno, o, S.hiP, S.hiPg, S.hiO) > 0) throw outOfPlace(pgno, o, 'separator above the high bound', S.hiPg);
    S.hiP = p;
    S.hiPg = pgno;
    S.hiO = o;
  }
}

/** Checks the leaf a descent from root landed on against the descent's bounds (see S.loP). */
export function checkLanding(r: PageReader, p: Buffer, pgno: number, root: number): void {
  const n = p[22] | (p[23] << 8);
  if (n === 0) {
    if (pgno !== root) throw corrupt(pgno, H_COUNT, 'empty leaf under a branch');
    return;
  }
  if (S.loO !== 0 && cmpLeafSep(r, p, pgno, p[SLOTS] | (p[SLOTS + 1] << 8), S.loP, S.loPg, S.loO) < 0) {
    throw outOfPlace(pgno, SLOTS, 'first key below the separator', S.loPg);
  }
  if (S.hiO !== 0) {
    const so = SLOTS + 2 * (n - 1);
    if (cmpLeafSep(r, p, pgno, p[so] | (p[so + 1] << 8), S.hiP, S.hiPg, S.hiO) >= 0) throw outOfPlace(pgno, so, 'last key not below the separator', S.hiPg);
  }
}

/**
 * The point-read form of checkLanding, after the leaf search gave s (an index, or ~insertion
 * index). A key found is the key asked for, which lies within the bounds: nothing more is read.
 * A key not found: the entries just below and just above it (the last the search compared, so
 * no other part of the page is read) must lie within the bounds. A leaf from elsewhere whose keys
 * are all outside them (another tree's, a sibling reached twice) is caught by either entry.
 */
export function checkAround(r: PageReader, p: Buffer, pgno: number, root: number, s: number): void {
  if (s >= 0) return;
  pathBounds(r);
  const n = p[22] | (p[23] << 8);
  if (n === 0) {
    if (pgno !== root) throw corrupt(pgno, H_COUNT, 'empty leaf under a branch');
    return;
  }
  const below = ~s - 1;
  const above = ~s;
  if (S.loO !== 0) {
    const so = SLOTS + 2 * (below > 0 ? below : 0);
    if (cmpLeafSep(r, p, pgno, p[so] | (p[so + 1] << 8), S.loP, S.loPg, S.loO) < 0) throw outOfPlace(pgno, so, 'a key below the separator', S.loPg);
  }
  if (S.hiO !== 0) {
    const so = SLOTS + 2 * (above < n ? above : n - 1);
    if (cmpLeafSep(r, p, pgno, p[so] | (p[so + 1] << 8), S.hiP, S.hiPg, S.hiO) >= 0) throw outOfPlace(pgno, so, 'a key not below the separator', S.hiPg);
  }
}

// The branch pages of the last `descend` (page, number, child taken), from the root down: the
// bounds are computed and checked from them only when the leaf is (pathBounds), so a point read
// that finds its key pays two stores per level and no comparison. They live in the scratch:
// S.pathP/S.pathG/S.pathI[0 .. S.pathD).

/** Sets and checks the bounds (S.loP …) along the path recorded by the last descend. */
function pathBounds(r: PageReader): void {
  S.loO = S.hiO = 0;
  for (let d = 0; d < S.pathD; d++) {
    const p = S.pathP[d]!;
    narrow(r, p, S.pathG[d]!, p[22] | (p[23] << 8), S.pathI[d]!);
  }
}

/**
 * Descends from root to the leaf whose range holds ikey; stores it in pos (i untouched) and the
 * path in S.pathP/S.pathG/S.pathI. The caller checks the leaf against the bounds: pathBounds, then
 * checkLanding, or checkAround after its search.
 */
export function descend(r: PageReader, root: number, ikey: Buffer, pos: Pos): void {
  let pgno = root;
  let skip = 0;
  for (let d = 0; d <= MAX_DEPTH; d++) {
    const p = r.page(pgno);
    checkNode(p, pgno);
    if (p[H_TYPE] === LEAF) {
      S.pathD = d;
      pos.p = p;
      pos.pgno = pgno;
      S.skip = skip;
      return;
    }
    const i = searchBranch(r, p, pgno, ikey, skip);
    skip = S.skip;
    S.pathP[d] = p;
    S.pathG[d] = pgno;
    S.pathI[d] = i;
    pgno = childAt(p, pgno, i);
  }
  throw corrupt(pgno, 0, `tree deeper than ${MAX_DEPTH} levels`);
}

/** descend, then the full check of the leaf (seeks: the first entry may be anywhere in it). */
export function descendChecked(r: PageReader, root: number, ikey: Buffer, pos: Pos): void {
  descend(r, root, ikey, pos);
  const s = S.skip;
  pathBounds(r);
  checkLanding(r, pos.p, pos.pgno, root);
  S.skip = s;
}

/** Descends to the leftmost or rightmost leaf. */
export function descendEdge(r: PageReader, root: number, right: boolean, pos: Pos): void {
  let pgno = root;
  S.loO = S.hiO = 0;
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
export function nextLeaf(r: PageReader, pos: Pos): boolean {
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
export function prevLeaf(r: PageReader, pos: Pos): boolean {
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
export function seekGE(r: PageReader, root: number, ikey: Buffer, incl: boolean, pos: Pos): boolean {
  descendChecked(r, root, ikey, pos);
  const s = searchLeaf(r, pos.p, pos.pgno, ikey, S.skip);
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
export function seekLE(r: PageReader, root: number, ikey: Buffer, incl: boolean, pos: Pos): boolean {
  descendChecked(r, root, ikey, pos);
  const s = searchLeaf(r, pos.p, pos.pgno, ikey, S.skip);
  const i = s >= 0 ? (incl ? s : s - 1) : ~s - 1;
  if (i >= 0) {
    pos.i = i;
    return true;
  }
  pos.i = 0;
  return prevLeaf(r, pos);
}

export function stepNext(r: PageReader, pos: Pos): boolean {
  if (pos.i + 1 < count(pos.p)) {
    pos.i++;
    return true;
  }
  return nextLeaf(r, pos);
}

export function stepPrev(r: PageReader, pos: Pos): boolean {
  if (pos.i > 0) {
    pos.i--;
    return true;
  }
  return prevLeaf(r, pos);
}

/** Decodes the user key and value of the leaf cell at off into S.entK / S.entV. */
export function loadEntry(dup: DupMode, r: PageReader, p: Buffer, pgno: number, off: number, copy: boolean, withValue = true): void {
  if (dup === 'none') {
    S.entK = leafKey(r, p, pgno, off, copy);
    S.entV = withValue ? leafValue(r, p, pgno, off, copy) : NO_VALUE;
    return;
  }
  const ik = leafKey(r, p, pgno, off, false);
  const t = terminatorAt(ik, 0, ik.length);
  if (t < 0 || (dup === 'unsorted' && ik.length !== t + 10)) throw corrupt(pgno, off, 'malformed duplicate key');
  S.entK = unescapeKey(ik, 0, t, copy);
  if (dup === 'sorted') S.entV = copy ? copyOf(ik, t + 2, ik.length) : ik.subarray(t + 2);
  else S.entV = withValue ? leafValue(r, p, pgno, off, copy) : NO_VALUE;
}

/** The value loadEntry hands over when asked for keys only. */
const NO_VALUE = Buffer.alloc(0);
export function asBuf(b: unknown, what: string): Buffer {
  if (Buffer.isBuffer(b)) return b;
  if (b instanceof Uint8Array) return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  throw invalid(`${what} must be a Buffer`);
}
