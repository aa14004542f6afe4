// B-tree verification (bt_verify): a whole-tree check that reports problems as text instead of
// throwing, so that db_verify and the tests see every problem (up to 200) at once.

import type { PageReader } from '../page/store.js';
import { BRANCH, BRANCH_HDR, F_KOVF, F_VOVF, H_FRAG, H_NEXT, H_PREV, H_TYPE, LEAF, LEAF_HDR, MAX_DEPTH, REF, SLOTS, branchCellSize, childAt, count, leafCellSize, slot, u16, u32, upper, walkChain } from './page.js';
import { terminatorAt } from './keys.js';
import { type TreeRef, branchKey, leafKey } from './search.js';

/**
 * Checks the whole tree; returns a list of problems ([] when sound): page types per level, page
 * headers and cell bounds, key order within and across pages, separator bounds, sibling links,
 * empty pages, overflow chains (types, byte counts, lengths), duplicate-key encoding, pages
 * reached twice.
 */
export function verifyTree(t: TreeRef, r: PageReader): string[] {
  const v = new Verifier(t, r);
  v.visit(t.root, 0, null, null);
  v.checkSiblings();
  return v.problems;
}

/** One verify run: the problems found, the pages seen, the leaves in key order. */
class Verifier {
  readonly problems: string[] = [];
  private readonly ps: number;
  private readonly seen = new Set<number>();
  private readonly leaves: number[] = [];
  private leafDepth = -1;

  constructor(
    private readonly t: TreeRef,
    private readonly r: PageReader,
  ) {
    this.ps = r.pageSize;
  }

  private add(s: string): void {
    if (this.problems.length < 200) this.problems.push(s);
  }

  /** Walks the overflow chain of len bytes from first, referenced at ro of page owner. */
  private chain(owner: number, ro: number, first: number, len: number): void {
    try {
      walkChain(this.r, first, len, owner, ro, (o) => {
        if (this.seen.has(o)) this.add(`page ${o}: overflow page reached twice (from page ${owner})`);
        this.seen.add(o);
      });
    } catch (e) {
      this.add(`page ${owner}: overflow chain at offset ${ro}: ${(e as Error).message}`);
    }
  }

  /** Checks page pgno at depth and, for a branch, its subtree; every key must lie in [lo, hi). */
  visit(pgno: number, depth: number, lo: Buffer | null, hi: Buffer | null): void {
    const ps = this.ps;
    if (depth > MAX_DEPTH) {
      this.add(`page ${pgno}: deeper than ${MAX_DEPTH} levels`);
      return;
    }
    if (this.seen.has(pgno)) {
      this.add(`page ${pgno}: reached twice`);
      return;
    }
    this.seen.add(pgno);
    let p: Buffer;
    try {
      p = this.r.page(pgno);
    } catch (e) {
      this.add(`page ${pgno}: unreadable: ${(e as Error).message}`);
      return;
    }
    if (p.length !== ps) this.add(`page ${pgno}: length ${p.length} is not the page size ${ps}`);
    const t = p[H_TYPE];
    if (t !== LEAF && t !== BRANCH) {
      this.add(`page ${pgno}: type ${t} where a leaf or branch page belongs`);
      return;
    }
    const n = count(p);
    const up = upper(p);
    if (SLOTS + 2 * n > up || up > ps) {
      this.add(`page ${pgno}: count ${n} and cell area start ${up} are impossible`);
      return;
    }
    if (!this.checkCells(p, pgno, t, n, up)) return;
    if (t === LEAF) this.checkLeaf(p, pgno, depth, n, lo, hi);
    else this.checkBranch(p, pgno, depth, n, lo, hi);
  }

  /** Cells: bounds, no overlap, accounting. false: a cell is unusable, the page is not checked further. */
  private checkCells(p: Buffer, pgno: number, t: number, n: number, up: number): boolean {
    const ps = this.ps;
    const spans: [number, number][] = [];
    for (let i = 0; i < n; i++) {
      const off = slot(p, i);
      let sz: number;
      try {
        sz = t === LEAF ? leafCellSize(p, pgno, off) : branchCellSize(p, pgno, off);
      } catch {
        this.add(`page ${pgno}: slot ${i} cell at ${off} outside the page or malformed`);
        return false;
      }
      if (off < up) {
        this.add(`page ${pgno}: slot ${i} cell at ${off} below the cell area start ${up}`);
        return false;
      }
      spans.push([off, sz]);
    }
    spans.sort((a, b) => a[0] - b[0]);
    let live = 0;
    for (let i = 0; i < spans.length; i++) {
      live += spans[i][1];
      if (i > 0 && spans[i - 1][0] + spans[i - 1][1] > spans[i][0]) this.add(`page ${pgno}: cells at ${spans[i - 1][0]} and ${spans[i][0]} overlap`);
    }
    if (live + u16(p, H_FRAG) !== ps - up) this.add(`page ${pgno}: live cell bytes ${live} + fragmented ${u16(p, H_FRAG)} != cell area ${ps - up}`);
    return true;
  }

  /** A leaf: depth, emptiness, then its entries' keys, chains, order, bounds and encoding. */
  private checkLeaf(p: Buffer, pgno: number, depth: number, n: number, lo: Buffer | null, hi: Buffer | null): void {
    if (this.leafDepth < 0) this.leafDepth = depth;
    else if (depth !== this.leafDepth) this.add(`page ${pgno}: leaf at depth ${depth}, other leaves at depth ${this.leafDepth}`);
    if (n === 0 && pgno !== this.t.root) this.add(`page ${pgno}: empty non-root leaf`);
    this.leaves.push(pgno);
    let prev: Buffer | null = null;
    for (let i = 0; i < n; i++) {
      const off = slot(p, i);
      let k: Buffer;
      try {
        k = leafKey(this.r, p, pgno, off, false);
      } catch (e) {
        this.add(`page ${pgno}: entry ${i} key unreadable: ${(e as Error).message}`);
        continue;
      }
      const fl = p[off];
      const kin = u16(p, off + 1);
      const vin = u16(p, off + 3);
      let ro = off + LEAF_HDR + kin + vin;
      if (fl & F_KOVF) {
        if (k.length <= kin) this.add(`page ${pgno}: entry ${i} overflow key no longer than its prefix`);
        this.chain(pgno, ro, u32(p, ro + 4), u32(p, ro) - kin);
        ro += REF;
      }
      if (fl & F_VOVF) this.chain(pgno, ro, u32(p, ro + 4), u32(p, ro));
      this.checkLeafOrder(pgno, i, k, prev, lo, hi);
      this.checkDupKey(pgno, i, k, fl, vin);
      prev = k;
    }
  }

  /** Entry i's key k: above the previous entry's, within the separator bounds [lo, hi). */
  private checkLeafOrder(pgno: number, i: number, k: Buffer, prev: Buffer | null, lo: Buffer | null, hi: Buffer | null): void {
    if (prev !== null && Buffer.compare(prev, k) >= 0) this.add(`page ${pgno}: entry ${i} not above entry ${i - 1}`);
    if (lo !== null && Buffer.compare(k, lo) < 0) this.add(`page ${pgno}: entry ${i} below its separator bound`);
    if (hi !== null && Buffer.compare(k, hi) >= 0) this.add(`page ${pgno}: entry ${i} not below its separator bound`);
  }

  /** Entry i of a duplicate tree: its key is a valid composite for the tree's mode. */
  private checkDupKey(pgno: number, i: number, k: Buffer, fl: number, vin: number): void {
    const dup = this.t.dup;
    if (dup !== 'none') {
      const tt = terminatorAt(k, 0, k.length);
      if (tt < 0) this.add(`page ${pgno}: entry ${i} is not a valid duplicate key`);
      else if (dup === 'unsorted' && k.length !== tt + 10) this.add(`page ${pgno}: entry ${i} unsorted duplicate without 8-byte sequence`);
      if (dup === 'sorted' && ((fl & F_VOVF) !== 0 || vin !== 0)) this.add(`page ${pgno}: entry ${i} sorted duplicate with a stored value`);
    }
  }

  /** A branch: no sibling links, children, a keyless first cell, its separators, then its children. */
  private checkBranch(p: Buffer, pgno: number, depth: number, n: number, lo: Buffer | null, hi: Buffer | null): void {
    if (u32(p, H_NEXT) !== 0 || u32(p, H_PREV) !== 0) this.add(`page ${pgno}: branch page with sibling links`);
    if (n === 0) {
      this.add(`page ${pgno}: branch with no children`);
      return;
    }
    const off0 = slot(p, 0);
    if (p[off0 + 4] !== 0 || u16(p, off0 + 5) !== 0) this.add(`page ${pgno}: first branch cell has a key`);
    const seps = this.checkBranchKeys(p, pgno, n, lo, hi);
    for (let i = 0; i < n; i++) {
      let c: number;
      try {
        c = childAt(p, pgno, i);
      } catch (e) {
        this.add(`page ${pgno}: child ${i}: ${(e as Error).message}`);
        continue;
      }
      this.visit(c, depth + 1, seps[i], i + 1 < n ? seps[i + 1] : hi);
    }
  }

  /** The separators of a branch, each above the previous bound and below hi; returns the children's low bounds. */
  private checkBranchKeys(p: Buffer, pgno: number, n: number, lo: Buffer | null, hi: Buffer | null): (Buffer | null)[] {
    const seps: (Buffer | null)[] = [lo];
    for (let i = 1; i < n; i++) {
      const off = slot(p, i);
      let k: Buffer | null = null;
      try {
        k = branchKey(this.r, p, pgno, off);
        if (p[off + 4] & F_KOVF) {
          const kin = u16(p, off + 5);
          const ro = off + BRANCH_HDR + kin;
          this.chain(pgno, ro, u32(p, ro + 4), u32(p, ro) - kin);
        }
      } catch (e) {
        this.add(`page ${pgno}: separator ${i} unreadable: ${(e as Error).message}`);
      }
      if (k !== null) {
        const before = seps[i - 1];
        if (before !== null && Buffer.compare(before, k) >= 0) this.add(`page ${pgno}: separator ${i} not above the previous bound`);
        if (hi !== null && Buffer.compare(k, hi) >= 0) this.add(`page ${pgno}: separator ${i} not below the upper bound`);
      }
      seps.push(k ?? seps[i - 1]);
    }
    return seps;
  }

  /** The leaves, in key order, are linked both ways through next/prev. */
  checkSiblings(): void {
    const leaves = this.leaves;
    for (let i = 0; i < leaves.length; i++) {
      const p = this.r.page(leaves[i]);
      const wantPrev = i > 0 ? leaves[i - 1] : 0;
      const wantNext = i + 1 < leaves.length ? leaves[i + 1] : 0;
      if (u32(p, H_PREV) !== wantPrev) this.add(`page ${leaves[i]}: prev link ${u32(p, H_PREV)}, expected ${wantPrev}`);
      if (u32(p, H_NEXT) !== wantNext) this.add(`page ${leaves[i]}: next link ${u32(p, H_NEXT)}, expected ${wantNext}`);
    }
  }
}
