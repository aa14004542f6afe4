// Structural check of a B-tree page as it enters the page cache from disk (issue 21; docs/
// DESIGN.md "Crafted and damaged structure"). The checksum (I6) proves a page is the one that
// was written, not that it was written by cairn: anyone who hands the operator a file controls
// every byte, checksums included. This pass checks everything a page says about itself, once per
// disk read (nothing on cache hits), so that a page whose accounting does not add up is a
// CorruptionError before any reader trusts it:
//
// - leaf and branch pages (FORMAT.md §Leaf and branch body): the header (checkNode), flags 0;
//   every slot's cell inside [upper, pageSize), cells not overlapping each other, live cell
//   bytes + frag = pageSize − upper (so a changed entry count, which exposes stale slots or
//   hides cells, never adds up); each cell's flags consistent with its size (an overflowing key
//   keeps exactly the inline prefix, an overflowing value keeps no inline bytes, no cell larger
//   than the inline limit); a branch's cell 0 has an empty key, its children are neither 0 nor
//   itself, and it has no sibling links. Key order is not checked here (a comparison per cell
//   would cost as much as the checksum): the descent checks the keys around the one it looks
//   for against its separator bounds, scans check order across each step, db_verify all of it;
// - overflow pages (§Overflow pages): 1 ≤ bytes used ≤ capacity, a page with a successor is
//   full, it does not link to itself, flags and count 0.
//
// What this cannot see is a page that is sound in itself but reached from the wrong place (a
// child or overflow link into another tree or chain, a descriptor root inside another tree):
// pages carry no tree identity; the descent's separator bounds, the chain reader's length
// accounting and db_verify's reachability pass cover those (DESIGN.md).
//
// Registered with the pager (setPageContentCheck) when the B-tree module loads.

import { setPageContentCheck } from '../page/pager.js';
import {
  BRANCH,
  BRANCH_HDR,
  F_KOVF,
  F_VOVF,
  H_FLAGS,
  H_FRAG,
  H_COUNT,
  H_NEXT,
  H_PREV,
  H_TYPE,
  LEAF,
  LEAF_HDR,
  OVERFLOW,
  REF,
  SLOTS,
  checkNode,
  corrupt,
  keyPrefix,
  maxCell,
  ovfCapacity,
  u16,
  u32,
  upper,
} from './page.js';

/** (offset << 16 | size) of each cell, sorted to find overlaps; reused. */
let spans = new Uint32Array(0);

/**
 * Throws a CorruptionError(`page N`, offset, what) when the page's own structure is
 * inconsistent. Pages of other types (meta, free) are left to their readers.
 */
export function checkPageStructure(p: Buffer, pgno: number): void {
  const t = p[H_TYPE];
  if (t === LEAF || t === BRANCH) checkNodePage(p, pgno, t);
  else if (t === OVERFLOW) checkOverflowPage(p, pgno);
}

function checkNodePage(p: Buffer, pgno: number, t: number): void {
  const n = checkNode(p, pgno);
  const ps = p.length;
  if (p[H_FLAGS] !== 0) throw corrupt(pgno, H_FLAGS, `page flags ${p[H_FLAGS]} are not 0`);
  const next = u32(p, H_NEXT);
  const prev = u32(p, H_PREV);
  if (t === BRANCH && (next !== 0 || prev !== 0)) throw corrupt(pgno, H_NEXT, 'branch page with sibling links');
  if (next === pgno || prev === pgno) throw corrupt(pgno, next === pgno ? H_NEXT : H_PREV, 'leaf page linked to itself');
  const up = upper(p);
  const mc = maxCell(ps);
  const kp = keyPrefix(ps);
  if (spans.length < n) spans = new Uint32Array(Math.max(n, 256));
  let live = 0;
  for (let i = 0; i < n; i++) {
    const so = SLOTS + 2 * i;
    const off = p[so] | (p[so + 1] << 8);
    if (off < up || off + (t === LEAF ? LEAF_HDR : BRANCH_HDR) > ps) throw corrupt(pgno, so, `slot ${i}: cell offset ${off} outside the cell area [${up}, ${ps})`);
    let sz: number;
    let kl: number;
    if (t === LEAF) {
      const fl = p[off];
      kl = p[off + 1] | (p[off + 2] << 8);
      const vl = p[off + 3] | (p[off + 4] << 8);
      if (fl > 3) throw corrupt(pgno, off, `slot ${i}: leaf cell flags ${fl}`);
      sz = LEAF_HDR + kl + vl + (fl & F_KOVF ? REF : 0) + (fl & F_VOVF ? REF : 0);
      if (off + sz > ps) throw corrupt(pgno, off, `slot ${i}: leaf cell of ${sz} bytes runs past the page`);
      if (sz > mc) throw corrupt(pgno, off, `slot ${i}: leaf cell of ${sz} bytes exceeds the inline limit ${mc}`);
      let ro = off + LEAF_HDR + kl + vl;
      if (fl & F_KOVF) {
        if (kl !== kp || u32(p, ro) <= kl) throw corrupt(pgno, off, `slot ${i}: overflowing key with ${kl} inline bytes and total length ${u32(p, ro)} (the inline prefix is ${kp})`);
        ro += REF;
      }
      if (fl & F_VOVF && (vl !== 0 || u32(p, ro) === 0)) throw corrupt(pgno, off, `slot ${i}: overflowing value with ${vl} inline bytes and total length ${u32(p, ro)}`);
    } else {
      const child = u32(p, off);
      const fl = p[off + 4];
      kl = p[off + 5] | (p[off + 6] << 8);
      if (fl > 1) throw corrupt(pgno, off + 4, `slot ${i}: branch cell flags ${fl}`);
      sz = BRANCH_HDR + kl + (fl & F_KOVF ? REF : 0);
      if (off + sz > ps) throw corrupt(pgno, off, `slot ${i}: branch cell of ${sz} bytes runs past the page`);
      if (sz > mc) throw corrupt(pgno, off, `slot ${i}: branch cell of ${sz} bytes exceeds the inline limit ${mc}`);
      if (child === 0 || child === pgno) throw corrupt(pgno, off, `slot ${i}: bad child page number ${child}`);
      if (i === 0 && (fl !== 0 || kl !== 0)) throw corrupt(pgno, off, 'the first branch cell has a key');
      if (fl & F_KOVF && (kl !== kp || u32(p, off + BRANCH_HDR + kl) <= kl)) throw corrupt(pgno, off, `slot ${i}: overflowing separator with ${kl} inline bytes (the inline prefix is ${kp})`);
    }
    spans[n - 1 - i] = off * 0x10000 + sz; // reversed: cells are allocated downwards, so in-order pages come out sorted
    live += sz;
  }
  const frag = u16(p, H_FRAG);
  if (live + frag !== ps - up) throw corrupt(pgno, H_COUNT, `${n} cells of ${live} bytes and ${frag} fragmented bytes do not fill the cell area of ${ps - up} bytes (a wrong entry count or cell size)`);
  if (n > 1) {
    const s = spans;
    if (n > 48) s.subarray(0, n).sort();
    else {
      // Insertion sort: cheaper than the native sort's set-up for the few cells of most pages,
      // and linear when the slots follow the cell order (a page filled in order or compacted).
      for (let i = 1; i < n; i++) {
        const x = s[i]!;
        let j = i - 1;
        while (j >= 0 && s[j]! > x) {
          s[j + 1] = s[j]!;
          j--;
        }
        s[j + 1] = x;
      }
    }
    let end = 0;
    for (let i = 0; i < n; i++) {
      const off = s[i]! >>> 16;
      if (off < end) throw corrupt(pgno, off, `cells overlap at offset ${off}`);
      end = off + (s[i]! & 0xffff);
    }
  }
}

function checkOverflowPage(p: Buffer, pgno: number): void {
  const cap = ovfCapacity(p.length);
  const n = u32(p, H_PREV);
  const next = u32(p, H_NEXT);
  if (p[H_FLAGS] !== 0 || u16(p, H_COUNT) !== 0) throw corrupt(pgno, H_FLAGS, 'overflow page with flags or a count');
  if (n === 0 || n > cap) throw corrupt(pgno, H_PREV, `overflow page holds ${n} bytes (capacity ${cap})`);
  if (next !== 0 && n !== cap) throw corrupt(pgno, H_PREV, `overflow page holds ${n} bytes but the chain goes on (every page but the last is full)`);
  if (next === pgno) throw corrupt(pgno, H_NEXT, 'overflow page linked to itself');
}

setPageContentCheck(checkPageStructure);
