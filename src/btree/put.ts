// B-tree insertion (bt_put): the write descent with its append fast path and cached append
// path, insert and replace of leaf cells. A full page goes to split.ts. See btree.ts (§Writes
// dirty only what they change, §Appends skip the descent) for the design.

import type { PageReader, PageWriter } from '../page/store.js';
import { CairnError } from '../util/errors.js';
import { assert } from '../util/assert.js';
import {
  F_KOVF,
  F_VOVF,
  H_NEXT,
  H_TYPE,
  LEAF,
  LEAF_HDR,
  MAX_DEPTH,
  REF,
  SLOTS,
  checkNode,
  childAt,
  corrupt,
  count,
  freeChain,
  keyPrefix,
  leafCellSize,
  maxCell,
  removeSlot,
  reserve,
  setU32,
  slot,
  u16,
  u32,
  writeChain,
} from './page.js';
import { encodeKey, memcmp2 } from './keys.js';
import { type Dirty, track } from '../page/ranges.js';
import { EMPTY, type DupMode, type Pos, S, cmpBranch, cmpLeaf, checkLanding, leafKey, narrow, prevLeaf, searchBranch, searchLeaf, seekGE } from './search.js';
import { splitInsert } from './split.js';

const REPLACE = 0;
const NOOVERWRITE = 1;
const KEEP = 2;
/** Largest key or value length (u32 lengths, FORMAT.md). */
export const MAX_LEN = 0xffffffff;

export function checkLen(b: Buffer, what: string): void {
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
export function freeLeafChains(w: PageWriter, p: Buffer, pgno: number, off: number): void {
  const fl = p[off];
  if (fl === 0) return;
  let ro = off + LEAF_HDR + u16(p, off + 1) + u16(p, off + 3);
  if (fl & F_KOVF) {
    freeChain(w, u32(p, ro + 4), u32(p, ro) - u16(p, off + 1), pgno, ro);
    ro += REF;
  }
  if (fl & F_VOVF) freeChain(w, u32(p, ro + 4), u32(p, ro), pgno, ro);
}

function u32be(b: Buffer, o: number): number {
  return b.readUInt32BE(o);
}

// The cached append path (WritePath.locateW). Every write through any BTree object (put, del,
// truncate, drop, create) bumps writeEpoch before it changes anything; a tree records the epoch
// with its cached path, which is therefore stale after any write but its own last append.
let writeEpoch = 0;

/** Test switch and counter: with `on` false the cached append path is never taken (the slow path's pages must be the same); `hits` counts the puts that took it. */
export const appendCache: { on: boolean; hits: number } = { on: true, hits: 0 };

/** Called by every write through any BTree object before it changes anything (see writeEpoch). */
export function bumpWriteEpoch(): void {
  writeEpoch++;
}

/**
 * A tree's write state: the path of its last write descent and its cached append path. One per
 * BTree (the facade); split.ts and delete.ts work on the recorded path.
 */
export class WritePath {
  // Path of the last write descent: pg[0] = root ... pg[depth] = leaf; ix[l] = slot taken in
  // pg[l] (for the leaf: the entry's index or insertion index).
  readonly pg: number[] = [];
  readonly ix: number[] = [];
  depth = 0;
  /** The last write descent ended past the last key of the rightmost leaf (locateW). */
  appending = true;
  /**
   * The cached append path: set when this tree's last write was an insert at the end of the
   * rightmost leaf that did not split, to that leaf's tracker (ranges.ts: its identity names
   * the writer's private copy of the leaf, so another writer, or this one after a snapshot or
   * commit, never matches). Valid only while writeEpoch is still `cacheEpoch` + 1 (no other
   * write since, by any tree object); pg/ix/depth then still hold that leaf's path. Taken
   * (and cleared) by the next locateW.
   */
  cacheLeaf: Dirty | null = null;
  cacheEpoch = -1;
  /** The leaf tracker when the last locateW took the cached path (insertLeaf reuses it), else null. */
  hitLeaf: Dirty | null = null;

  constructor(
    readonly root: number,
    readonly dup: DupMode,
  ) {}

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

  hasKey(r: PageReader, key: Buffer): boolean {
    const pos: Pos = { p: EMPTY, pgno: 0, i: 0 };
    if (!seekGE(r, this.root, encodeKey(key, 0), true, pos)) return false;
    return cmpLeaf(r, encodeKey(key, 0, true), pos.p, pos.pgno, slot(pos.p, pos.i), SLOTS + 2 * count(pos.p)) > 0;
  }

  /** The internal key just before the located insertion point, or null. */
  predecessorKey(r: PageReader): Buffer | null {
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
  locateW(w: PageWriter, ikey: Buffer): number {
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
  descendW(r: PageReader, ikey: Buffer): number {
    let pgno = this.root;
    let skip = 0;
    let append = this.appending;
    S.loO = S.hiO = 0;
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
        skip = S.skip;
      }
      this.ix[d] = i;
      narrow(r, p, pgno, n, i);
      pgno = childAt(p, pgno, i);
    }
    throw corrupt(pgno, 0, `tree deeper than ${MAX_DEPTH} levels`);
  }

  putI(w: PageWriter, ikey: Buffer, ival: Buffer, mode: number): boolean {
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
  insertLeaf(w: PageWriter, ikey: Buffer, ival: Buffer): void {
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
      dirty.mark(off, off + size); // PLANT(ranges-skip-mark):
      if (idx === (p[22] | (p[23] << 8)) - 1 && u32(p, H_NEXT) === 0) {
        // An append to the rightmost leaf that did not split: the next one may skip the descent.
        this.cacheLeaf = dirty;
        this.cacheEpoch = writeEpoch;
      }
      return;
    }
    // PLANT(append-cache-split): [this.cacheLeaf, this.cacheEpoch] = [dirty, writeEpoch];
    const cell = Buffer.allocUnsafe(size);
    writeLeafCell(cell, 0, fl, ikey, kin, kref, ival, vin, vref);
    splitInsert(this, w, d, idx, cell);
  }

  /** Replaces the value of the located existing entry. */
  replaceAt(w: PageWriter, ikey: Buffer, ival: Buffer): void {
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
}
