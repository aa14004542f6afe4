// B-tree range scans (the iterators' fast path): entries in key order or reverse, between
// optional bounds, as views into the pages. See btree.ts (§Reading API) for the design.

import type { PageReader } from '../page/store.js';
import { count, slot, SLOTS } from './page.js';
import { encodeKey } from './keys.js';
import { EMPTY, type Pos, S, type TreeRef, asBuf, cmpLeaf, descendEdge, loadEntry, nextLeaf, prevLeaf, seekGE, seekLE } from './search.js';

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
  /** Hand fn the keys only (value: an empty buffer): no overflow value is read (count, clear). */
  keysOnly?: boolean;
}

/**
 * Range scan: calls fn(key, value) for each entry in range, in order (reverse: descending),
 * until fn returns false or limit entries were visited; returns the number visited. key and
 * value are views valid only during the call (copy them to keep them); no copy is made for
 * inline entries, so this is the fast path for iterators.
 */
export function scan(t: TreeRef, r: PageReader, opts: ScanOptions, fn: (key: Buffer, value: Buffer) => boolean | void): number {
  let lo: Buffer | null = null;
  let loIncl = true;
  let hi: Buffer | null = null;
  let hiIncl = true;
  const dup = t.dup !== 'none';
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
  return scanI(t, r, lo, loIncl, hi, hiIncl, opts.reverse === true, limit, fn, opts.keysOnly !== true);
}

/**
 * scan over internal keys: lo/hi null = unbounded (loIncl/hiIncl: the bound itself is in range);
 * limit -1 = unlimited.
 */
export function scanI(
  t: TreeRef,
  r: PageReader,
  lo: Buffer | null,
  loIncl: boolean,
  hi: Buffer | null,
  hiIncl: boolean,
  reverse: boolean,
  limit: number,
  fn: (key: Buffer, value: Buffer) => boolean | void,
  withValue = true,
): number {
  return reverse ? scanBackward(t, r, lo, loIncl, hi, hiIncl, limit, fn, withValue) : scanForward(t, r, lo, loIncl, hi, hiIncl, limit, fn, withValue);
}

function scanForward(
  t: TreeRef,
  r: PageReader,
  lo: Buffer | null,
  loIncl: boolean,
  hi: Buffer | null,
  hiIncl: boolean,
  limit: number,
  fn: (key: Buffer, value: Buffer) => boolean | void,
  withValue: boolean,
): number {
  const pos: Pos = { p: EMPTY, pgno: 0, i: 0 };
  let seen = 0;
  let ok: boolean;
  if (lo !== null) ok = seekGE(r, t.root, lo, loIncl, pos);
  else {
    descendEdge(r, t.root, false, pos);
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
      loadEntry(t.dup, r, p, pgno, off, false, withValue);
      seen++;
      if (fn(S.entK, S.entV) === false || seen === limit) return seen;
    }
    pos.i = n - 1;
    ok = nextLeaf(r, pos);
  }
  return seen;
}

function scanBackward(
  t: TreeRef,
  r: PageReader,
  lo: Buffer | null,
  loIncl: boolean,
  hi: Buffer | null,
  hiIncl: boolean,
  limit: number,
  fn: (key: Buffer, value: Buffer) => boolean | void,
  withValue: boolean,
): number {
  const pos: Pos = { p: EMPTY, pgno: 0, i: 0 };
  let seen = 0;
  let ok: boolean;
  if (hi !== null) ok = seekLE(r, t.root, hi, hiIncl, pos);
  else {
    descendEdge(r, t.root, true, pos);
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
      loadEntry(t.dup, r, p, pgno, off, false, withValue);
      seen++;
      if (fn(S.entK, S.entV) === false || seen === limit) return seen;
    }
    pos.i = 0;
    ok = prevLeaf(r, pos);
  }
  return seen;
}
