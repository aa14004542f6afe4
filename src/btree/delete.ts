// B-tree deletion (bt_delete): removal of entries and key ranges, rebalancing by merges with a
// sibling, freeing of emptied pages, root collapse, and truncate/drop of a whole tree. See
// btree.ts (§Deletion) for the design.

import type { PageReader, PageWriter } from '../page/store.js';
import { assert } from '../util/assert.js';
import {
  BRANCH,
  BRANCH_HDR,
  F_KOVF,
  H_NEXT,
  H_PREV,
  H_TYPE,
  LEAF,
  MAX_DEPTH,
  SLOTS,
  bodyUsed,
  branchCellSize,
  checkNode,
  childAt,
  corrupt,
  count,
  freeChain,
  initNode,
  leafCellSize,
  removeSlot,
  reserve,
  setU32,
  slot,
  u16,
  u32,
} from './page.js';
import { encodeKey } from './keys.js';
import { track, writableWhole } from '../page/ranges.js';
import { EMPTY, type Pos, asBuf, cmpLeaf, leafKey, leafValue, seekGE, stepNext } from './search.js';
import { setLink, writeStub } from './split.js';
import { type WritePath, bumpWriteEpoch, freeLeafChains } from './put.js';

/** Frees the overflow chain of the separator of the branch cell at off, if any. */
function freeBranchChain(w: PageWriter, p: Buffer, pgno: number, off: number): void {
  if ((p[off + 4] & F_KOVF) === 0) return;
  const kin = u16(p, off + 5);
  const ro = off + BRANCH_HDR + kin;
  freeChain(w, u32(p, ro + 4), u32(p, ro) - kin, pgno, ro);
}

/**
 * Removes key (every duplicate), or with value only the pair(s) equal to (key, value).
 * Returns the number of entries removed.
 */
export function del(t: WritePath, w: PageWriter, key: Buffer, value?: Buffer): number {
  bumpWriteEpoch();
  key = asBuf(key, 'key');
  if (value !== undefined) value = asBuf(value, 'value');
  if (t.dup === 'none') {
    const s = t.locateW(w, key);
    if (s < 0) return 0;
    if (value !== undefined) {
      const p = w.page(t.pg[t.depth]);
      const v = leafValue(w, p, t.pg[t.depth], slot(p, s), false);
      if (!v.equals(value)) return 0;
    }
    deleteAt(t, w);
    return 1;
  }
  if (value === undefined) return deleteRange(t, w, encodeKey(key, 0), encodeKey(key, 0, true));
  if (t.dup === 'sorted') {
    const ik = encodeKey(key, value.length);
    value.copy(ik, ik.length - value.length);
    if (t.locateW(w, ik) < 0) return 0;
    deleteAt(t, w);
    return 1;
  }
  // unsorted (key, value): find the matching duplicates first, then delete them one by one.
  const victims: Buffer[] = [];
  const pos: Pos = { p: EMPTY, pgno: 0, i: 0 };
  const hi = encodeKey(key, 0, true);
  let ok = seekGE(w, t.root, encodeKey(key, 0), true, pos);
  while (ok) {
    const off = slot(pos.p, pos.i);
    if (cmpLeaf(w, hi, pos.p, pos.pgno, off, SLOTS + 2 * count(pos.p)) <= 0) break;
    if (leafValue(w, pos.p, pos.pgno, off, false).equals(value)) victims.push(leafKey(w, pos.p, pos.pgno, off, true));
    ok = stepNext(w, pos);
  }
  for (const ik of victims) {
    const s = t.locateW(w, ik);
    assert(s >= 0, 'duplicate found by the scan is present');
    deleteAt(t, w);
  }
  return victims.length;
}

/** Removes every entry and frees every page but the root; returns the number of entries. */
export function truncate(t: WritePath, w: PageWriter): number {
  bumpWriteEpoch();
  t.cacheLeaf = null;
  const n = freeTree(t, w, false);
  initNode(writableWhole(w, t.root), LEAF);
  return n;
}

/** Frees every page of the tree, root included. The tree must not be used afterwards. */
export function drop(t: WritePath, w: PageWriter): void {
  bumpWriteEpoch();
  t.cacheLeaf = null;
  freeTree(t, w, true);
}

function deleteAt(t: WritePath, w: PageWriter): void {
  const d = t.depth;
  const pgno = t.pg[d];
  const idx = t.ix[d];
  const dirty = track(w, pgno);
  const p = dirty.page;
  freeLeafChains(w, p, pgno, slot(p, idx));
  removeSlot(p, pgno, idx, dirty);
  rebalance(t, w, d);
}

/** Deletes every entry with lo <= internal key < hi. */
function deleteRange(t: WritePath, w: PageWriter, lo: Buffer, hi: Buffer): number {
  let removed = 0;
  for (;;) {
    t.locateW(w, lo);
    const d = t.depth;
    let p = w.page(t.pg[d]);
    if (t.ix[d] >= count(p)) {
      if (!nextLeafPath(t, w)) return removed;
      p = w.page(t.pg[d]);
    }
    const pgno = t.pg[d];
    const idx = t.ix[d];
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
    rebalance(t, w, d);
    if (end < n) return removed;
  }
}

/** Moves the recorded path to the next leaf (index 0); false at the last leaf. */
function nextLeafPath(t: WritePath, r: PageReader): boolean {
  const depth = t.depth;
  for (let l = depth - 1; l >= 0; l--) {
    const p = r.page(t.pg[l]);
    if (t.ix[l] + 1 >= count(p)) continue;
    t.ix[l]++;
    let pgno = childAt(p, t.pg[l], t.ix[l]);
    for (let m = l + 1; m <= depth; m++) {
      const q = r.page(pgno);
      checkNode(q, pgno);
      t.pg[m] = pgno;
      t.ix[m] = 0;
      const want = m === depth ? LEAF : BRANCH;
      if (q[H_TYPE] !== want) throw corrupt(pgno, H_TYPE, `expected page type ${want} at depth ${m}, found ${q[H_TYPE]}`);
      if (m < depth) pgno = childAt(q, pgno, 0);
    }
    return true;
  }
  return false;
}

/** Restores the invariants after entries were removed from the page at path level `level`. */
function rebalance(t: WritePath, w: PageWriter, level: number): void {
  const minUsed = (w.pageSize - SLOTS) >> 2;
  while (level > 0) {
    const pgno = t.pg[level];
    const p = w.page(pgno);
    const n = count(p);
    const isLeaf = p[H_TYPE] === LEAF;
    const pl = level - 1;
    const ppg = t.pg[pl];
    const pi = t.ix[pl];
    if (n === 0) {
      if (isLeaf) unlinkLeaf(w, p);
      removeChild(w, ppg, pi, true);
      w.free(pgno);
      level = pl;
      continue;
    }
    if (bodyUsed(p) >= minUsed) return;
    const pp = w.page(ppg);
    const pn = count(pp);
    if (pi > 0) {
      const left = childAt(pp, ppg, pi - 1);
      if (tryMerge(w, left, pgno, ppg, pi)) {
        removeChild(w, ppg, pi, isLeaf);
        w.free(pgno);
        level = pl;
        continue;
      }
    }
    if (pi + 1 < pn) {
      const right = childAt(pp, ppg, pi + 1);
      if (tryMerge(w, pgno, right, ppg, pi + 1)) {
        removeChild(w, ppg, pi + 1, isLeaf);
        w.free(right);
        level = pl;
        continue;
      }
    }
    return;
  }
  collapseRoot(t, w);
}

/** Unlinks a leaf from its siblings. */
function unlinkLeaf(w: PageWriter, p: Buffer): void {
  const pv = u32(p, H_PREV);
  const nx = u32(p, H_NEXT);
  if (pv !== 0) setLink(w, pv, H_NEXT, nx);
  if (nx !== 0) setLink(w, nx, H_PREV, pv);
}

/**
 * Merges page rpg into its left sibling lpg when both fit in one page (ri = rpg's index in the
 * parent ppg). Returns false when they do not fit. The caller removes rpg from the parent.
 */
function tryMerge(w: PageWriter, lpg: number, rpg: number, ppg: number, ri: number): boolean {
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
function removeChild(w: PageWriter, ppg: number, i: number, freeKey: boolean): void {
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
function collapseRoot(t: WritePath, w: PageWriter): void {
  for (let guard = 0; guard <= MAX_DEPTH; guard++) {
    const rp = w.page(t.root);
    if (rp[H_TYPE] !== BRANCH) return;
    const n = count(rp);
    if (n > 1) return;
    const rw = writableWhole(w, t.root);
    if (n === 0) {
      initNode(rw, LEAF);
      return;
    }
    const c = childAt(rw, t.root, 0);
    const cp = w.page(c);
    checkNode(cp, c);
    cp.copy(rw, H_TYPE, H_TYPE, rw.length);
    setU32(rw, H_NEXT, 0);
    setU32(rw, H_PREV, 0);
    w.free(c);
  }
}

/** Frees all pages of the tree (but the root unless withRoot); returns the entry count. */
function freeTree(t: WritePath, w: PageWriter, withRoot: boolean): number {
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
    if (pgno !== t.root || withRoot) w.free(pgno);
  };
  visit(t.root, 0);
  return entries;
}
