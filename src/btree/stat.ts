// Whole-tree walks (bt_stat): every leaf and branch page, every overflow chain, entry counts and
// fill factors. Each page visited is checked (header, cells) and cycles are caught.

import type { PageReader } from '../page/store.js';
import { BRANCH, BRANCH_HDR, F_KOVF, F_VOVF, H_TYPE, LEAF, LEAF_HDR, MAX_DEPTH, OVERFLOW, REF, SLOTS, bodyUsed, branchCellSize, checkNode, childAt, corrupt, count, leafCellSize, slot, u16, u32, walkChain } from './page.js';

export interface TreeStat {
  levels: number;
  leafPages: number;
  branchPages: number;
  overflowPages: number;
  entries: number;
  /** Live bytes / usable bytes over leaf and branch pages (0..1). */
  fillFactor: number;
}

/** Visits every leaf and branch page (pre-order), checking headers; guards against cycles. */
function walkNodes(r: PageReader, root: number, fn: (p: Buffer, pgno: number, depth: number) => void): void {
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
  visit(root, 0);
}

/** Calls visit for every overflow chain referenced by the node page p. */
function nodeChains(r: PageReader, p: Buffer, pgno: number, visit: (ovfPgno: number) => void): number {
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
export function walkPages(r: PageReader, root: number, visit: (pgno: number, type: number) => void): void {
  walkNodes(r, root, (p, pgno) => {
    visit(pgno, p[H_TYPE]);
    nodeChains(r, p, pgno, (o) => visit(o, OVERFLOW));
  });
}

export function stat(r: PageReader, root: number): TreeStat {
  let levels = 0;
  let leafPages = 0;
  let branchPages = 0;
  let overflowPages = 0;
  let entries = 0;
  let used = 0;
  walkNodes(r, root, (p, pgno, depth) => {
    if (depth + 1 > levels) levels = depth + 1;
    if (p[H_TYPE] === LEAF) {
      leafPages++;
      entries += count(p);
    } else branchPages++;
    used += bodyUsed(p);
    overflowPages += nodeChains(r, p, pgno, () => {});
  });
  const pages = leafPages + branchPages;
  return { levels, leafPages, branchPages, overflowPages, entries, fillFactor: used / (pages * (r.pageSize - SLOTS)) };
}

/** Number of entries (pairs, for dup trees). Reads every leaf. */
export function countEntries(r: PageReader, root: number): number {
  let n = 0;
  walkNodes(r, root, (p) => {
    if (p[H_TYPE] === LEAF) n += count(p);
  });
  return n;
}
