// B-tree page splits (bt_split): a full leaf or branch page divides in two (or, for an append at
// either end, keeps its cells and starts a new sibling with the new cell alone), the separator
// goes up to the parent (recursively), and a full root pushes its contents down first. See
// btree.ts (§Stable root, §Split point, §Branch pages) for the design.

import { PageType } from '../page/format.js';
import type { PageWriter } from '../page/store.js';
import { assert } from '../util/assert.js';
import {
  BRANCH,
  BRANCH_HDR,
  F_KOVF,
  H_COUNT,
  H_FRAG,
  H_NEXT,
  H_PREV,
  H_TYPE,
  LEAF,
  LEAF_HDR,
  REF,
  branchCellSize,
  count,
  initNode,
  keyPrefix,
  leafCellSize,
  maxCell,
  reserve,
  setU16,
  setU32,
  setUpper,
  slot,
  u16,
  u32,
  writeChain,
} from './page.js';
import { commonPrefix, copyOf } from './keys.js';
import { type Dirty, track, writableWhole } from '../page/ranges.js';
import { leafKey } from './search.js';

/** The recorded write path a split works on (put.ts WritePath). */
export interface SplitPath {
  readonly root: number;
  /** pg[0] = root ... pg[depth] = leaf; ix[l] = slot taken in pg[l]. */
  readonly pg: number[];
  readonly ix: number[];
  depth: number;
}

// Split bookkeeping, reused (splits are synchronous): a copy of the page being split, and per
// item (the page's cells plus the new one) its offset in the copy (-1: the new cell) and size.
let splitScratch = Buffer.alloc(0);
const itOff: number[] = [];
const itSz: number[] = [];

/** A branch cell pointing at child with no key (cell 0 of a branch page); reported to `d` if given. */
export function writeStub(p: Buffer, pgno: number, idx: number, child: number, d?: Dirty): void {
  const o = reserve(p, pgno, idx, BRANCH_HDR, d);
  assert(o >= 0, 'room for a branch stub cell');
  d?.mark(o, o + BRANCH_HDR);
  setU32(p, o, child);
  p[o + 4] = 0;
  setU16(p, o + 5, 0);
}

/** Sets a sibling link (H_NEXT or H_PREV) of page pgno, reporting the 4 bytes. */
export function setLink(w: PageWriter, pgno: number, field: number, to: number): void {
  const d = track(w, pgno);
  setU32(d.page, field, to);
  d.mark(field, field + 4);
}

/**
 * Inserts `cell` at slot idx of the full page at path level `level`, splitting it in two and
 * inserting the new separator in the parent (recursively). Must be the caller's last step:
 * a root push-down shifts the path.
 */
export function splitInsert(t: SplitPath, w: PageWriter, level: number, idx: number, cell: Buffer): void {
  if (level === 0) {
    pushDownRoot(t, w);
    level = 1;
  }
  const pgno = t.pg[level];
  const dirty = track(w, pgno);
  const p = dirty.page;
  const isLeaf = p[H_TYPE] === LEAF;
  const n = count(p);
  const { pgno: rpg, buf: rp } = w.allocate(isLeaf ? PageType.Leaf : PageType.Branch);
  initNode(rp, isLeaf ? LEAF : BRANCH);
  const sep = idx === n ? splitAppend(w, p, pgno, n, rp, rpg, isLeaf, cell) : splitHalves(w, dirty, pgno, n, rp, rpg, isLeaf, idx, cell);
  if (isLeaf) linkRight(w, dirty, pgno, rp, rpg);
  insertSeparator(t, w, level - 1, sep);
}

/** Append (idx == count): keeps the page as it is; the new cell alone starts the right sibling. Returns the separator cell. */
function splitAppend(w: PageWriter, p: Buffer, pgno: number, n: number, rp: Buffer, rpg: number, isLeaf: boolean, cell: Buffer): Buffer {
  let sep: Buffer;
  if (isLeaf) {
    const o = reserve(rp, rpg, 0, cell.length);
    cell.copy(rp, o);
    sep = separator(w, p, slot(p, n - 1), cell, 0, pgno, rpg);
  } else {
    writeStub(rp, rpg, 0, u32(cell, 0));
    sep = cell;
    setU32(sep, 0, rpg);
  }
  return sep;
}

/**
 * Divides the n cells of the full page (dirty) plus `cell` at idx between the page and the new
 * right page rp, by bytes (or the new cell alone on the left for an insert at the start of a
 * leaf). Returns the separator cell for the parent.
 */
function splitHalves(w: PageWriter, dirty: Dirty, pgno: number, n: number, rp: Buffer, rpg: number, isLeaf: boolean, idx: number, cell: Buffer): Buffer {
  const p = dirty.page;
  const ps = p.length;
  dirty.markAll(); // both halves are rewritten
  if (splitScratch.length < ps) splitScratch = Buffer.alloc(ps);
  const S = splitScratch;
  p.copy(S, 0, 0, ps);
  const m = n + 1;
  const total = measureItems(S, pgno, isLeaf, idx, m, cell);
  const k = choosePoint(isLeaf, idx, m, total);
  fillHalves(p, pgno, rp, rpg, isLeaf, k, m, S, cell);
  const offs = itOff;
  const sizes = itSz;
  let sep: Buffer;
  if (isLeaf) {
    const lsrc = offs[k - 1] < 0 ? cell : S;
    const rsrc = offs[k] < 0 ? cell : S;
    sep = separator(w, lsrc, offs[k - 1] < 0 ? 0 : offs[k - 1], rsrc, offs[k] < 0 ? 0 : offs[k], pgno, rpg);
  } else {
    sep = offs[k] < 0 ? cell : copyOf(S, offs[k], offs[k] + sizes[k]);
    setU32(sep, 0, rpg);
  }
  return sep;
}

/** Fills itOff/itSz for the m items (the copy S's cells with `cell` at idx); returns their bytes with slots. */
function measureItems(S: Buffer, pgno: number, isLeaf: boolean, idx: number, m: number, cell: Buffer): number {
  const offs = itOff;
  const sizes = itSz;
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
  return total;
}

/** The split point k (items [0, k) stay left): half the bytes, 1 for a descending load into a leaf. */
function choosePoint(isLeaf: boolean, idx: number, m: number, total: number): number {
  const sizes = itSz;
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
  return k;
}

/** Writes items [0, k) back into p and [k, m) into rp (for a branch, item k's key moves up and its child stays). */
function fillHalves(p: Buffer, pgno: number, rp: Buffer, rpg: number, isLeaf: boolean, k: number, m: number, S: Buffer, cell: Buffer): void {
  const offs = itOff;
  const sizes = itSz;
  const ps = p.length;
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
}

/** Links the new right leaf rpg between leaf pgno (dirty) and its old right sibling. */
function linkRight(w: PageWriter, dirty: Dirty, pgno: number, rp: Buffer, rpg: number): void {
  const p = dirty.page;
  const nx = u32(p, H_NEXT);
  setU32(rp, H_PREV, pgno);
  setU32(rp, H_NEXT, nx);
  setU32(p, H_NEXT, rpg);
  dirty.mark(H_NEXT, H_NEXT + 4);
  if (nx !== 0) setLink(w, nx, H_PREV, rpg);
}

/** Inserts the separator cell after the child taken at path level pl, splitting that page if full. */
function insertSeparator(t: SplitPath, w: PageWriter, pl: number, sep: Buffer): void {
  const ppg = t.pg[pl];
  const pidx = t.ix[pl] + 1;
  const pd = track(w, ppg);
  const pp = pd.page;
  const o = reserve(pp, ppg, pidx, sep.length, pd);
  if (o >= 0) {
    sep.copy(pp, o);
    pd.mark(o, o + sep.length);
  } else splitInsert(t, w, pl, pidx, sep);
}

/**
 * The branch cell for a leaf split between the leaf cells at (lb, lo) and (rb, ro): child and
 * the shortest prefix of the right key greater than the left key.
 */
function separator(w: PageWriter, lb: Buffer, lo: number, rb: Buffer, ro: number, owner: number, child: number): Buffer {
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
  return branchCell(w, child, key);
}

/** A branch cell (child, key), moving the key to an overflow chain if it is too long. */
function branchCell(w: PageWriter, child: number, key: Buffer): Buffer {
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
function pushDownRoot(t: SplitPath, w: PageWriter): void {
  const rp = writableWhole(w, t.root);
  const ps = rp.length;
  const { pgno: c, buf: cb } = w.allocate(rp[H_TYPE] === LEAF ? PageType.Leaf : PageType.Branch);
  rp.copy(cb, H_TYPE, H_TYPE, ps);
  setU32(cb, H_NEXT, 0);
  setU32(cb, H_PREV, 0);
  initNode(rp, BRANCH);
  writeStub(rp, t.root, 0, c);
  for (let l = t.depth; l >= 0; l--) {
    t.pg[l + 1] = t.pg[l];
    t.ix[l + 1] = t.ix[l];
  }
  t.pg[1] = c;
  t.ix[0] = 0;
  t.depth++;
}

