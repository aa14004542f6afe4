// Slotted-page primitives for B-tree leaf and branch pages and overflow chains. The byte layout
// is documented in FORMAT.md; this file is the only one that knows offsets. All integers
// little-endian, as in the shared page header (src/page/format.ts).

import { PageOffset, PageType } from '../page/format.js';
import type { PageReader, PageWriter } from '../page/store.js';
import { CorruptionError } from '../util/errors.js';
import { type Dirty, writableWhole } from '../page/ranges.js';

export const LEAF: number = PageType.Leaf;
export const BRANCH: number = PageType.Branch;
export const OVERFLOW: number = PageType.Overflow;

// Header fields owned by the B-tree (bytes 20..31 of the shared header).
export const H_TYPE = PageOffset.type;
export const H_FLAGS = PageOffset.flags;
export const H_COUNT = PageOffset.count;
export const H_NEXT = PageOffset.next;
export const H_PREV = PageOffset.prev;
// Body header of leaf and branch pages.
export const H_UPPER = 32; // u16 start of the cell area; 0 means pageSize (empty cell area)
export const H_FRAG = 34; // u16 bytes of dead cells inside the cell area
export const SLOTS = 36; // u16 slot array starts here

export const OVF_DATA = 32; // overflow page data starts here

// Cell flags.
export const F_KOVF = 1; // the key continues in an overflow chain
export const F_VOVF = 2; // the value is in an overflow chain (leaf only)

export const LEAF_HDR = 5; // flags u8, klen u16, vlen u16
export const BRANCH_HDR = 7; // child u32, flags u8, klen u16
export const REF = 8; // overflow reference: total length u32, first page u32

/** Deepest tree accepted; deeper means a cycle or garbage (a real tree never gets close). */
export const MAX_DEPTH = 64;

export function corrupt(pgno: number, offset: number, what: string): CorruptionError {
  return new CorruptionError(`page ${pgno}`, offset, what, pgno);
}

export function u16(p: Buffer, o: number): number {
  return p[o] | (p[o + 1] << 8);
}
export function setU16(p: Buffer, o: number, v: number): void {
  p[o] = v & 0xff;
  p[o + 1] = (v >>> 8) & 0xff;
}
export function u32(p: Buffer, o: number): number {
  return (p[o] | (p[o + 1] << 8) | (p[o + 2] << 16)) + p[o + 3] * 0x1000000;
}
export function setU32(p: Buffer, o: number, v: number): void {
  p[o] = v & 0xff;
  p[o + 1] = (v >>> 8) & 0xff;
  p[o + 2] = (v >>> 16) & 0xff;
  p[o + 3] = (v >>> 24) & 0xff;
}

export function count(p: Buffer): number {
  return p[H_COUNT] | (p[H_COUNT + 1] << 8);
}
export function upper(p: Buffer): number {
  const u = p[H_UPPER] | (p[H_UPPER + 1] << 8);
  return u === 0 ? p.length : u;
}
export function setUpper(p: Buffer, up: number): void {
  setU16(p, H_UPPER, up === p.length ? 0 : up);
}
export function slot(p: Buffer, i: number): number {
  const o = SLOTS + 2 * i;
  return p[o] | (p[o + 1] << 8);
}

/** Largest cell (excluding its 2-byte slot) stored inline: a quarter of the usable body. */
export function maxCell(pageSize: number): number {
  return ((pageSize - SLOTS) >> 2) - 2;
}
/** Inline prefix kept in a cell whose key overflows. */
export function keyPrefix(pageSize: number): number {
  const m = maxCell(pageSize);
  return Math.max(16, m >> 2);
}
/** Data bytes per overflow page. */
export function ovfCapacity(pageSize: number): number {
  return pageSize - OVF_DATA;
}

/** Initialises a leaf or branch page as empty (header fields the B-tree owns, body header). */
export function initNode(p: Buffer, type: number): void {
  p[H_TYPE] = type;
  p[H_FLAGS] = 0;
  setU16(p, H_COUNT, 0);
  setU32(p, H_NEXT, 0);
  setU32(p, H_PREV, 0);
  setU16(p, H_UPPER, 0);
  setU16(p, H_FRAG, 0);
}

/**
 * Checks the header of a leaf/branch page (type, count, upper, frag); returns the count.
 * Cheap: called on every page a descent visits.
 */
export function checkNode(p: Buffer, pgno: number): number {
  const t = p[H_TYPE];
  if (t !== LEAF && t !== BRANCH) throw corrupt(pgno, H_TYPE, `expected a leaf or branch page, found type ${t}`);
  const n = count(p);
  const up = upper(p);
  const ps = p.length;
  if (SLOTS + 2 * n > up || up > ps) throw corrupt(pgno, H_COUNT, `count ${n} and cell area start ${up} are impossible`);
  if (u16(p, H_FRAG) > ps - up) throw corrupt(pgno, H_FRAG, `fragmented bytes ${u16(p, H_FRAG)} exceed the cell area`);
  if (t === BRANCH && n === 0) throw corrupt(pgno, H_COUNT, 'branch page with no children');
  return n;
}

/** Size of the leaf cell at off, validating it lies inside the cell area. */
export function leafCellSize(p: Buffer, pgno: number, off: number): number {
  const fl = p[off];
  const sz =
    LEAF_HDR + (p[off + 1] | (p[off + 2] << 8)) + (p[off + 3] | (p[off + 4] << 8)) + (fl & F_KOVF ? REF : 0) + (fl & F_VOVF ? REF : 0);
  if (off < SLOTS + 2 * count(p) || off + sz > p.length || fl > 3) throw corrupt(pgno, off, 'leaf cell outside the page or with bad flags');
  return sz;
}

/** Size of the branch cell at off, validating it lies inside the cell area. */
export function branchCellSize(p: Buffer, pgno: number, off: number): number {
  const fl = p[off + 4];
  const sz = BRANCH_HDR + (p[off + 5] | (p[off + 6] << 8)) + (fl & F_KOVF ? REF : 0);
  if (off < SLOTS + 2 * count(p) || off + sz > p.length || fl > 1) throw corrupt(pgno, off, 'branch cell outside the page or with bad flags');
  return sz;
}

export function cellSize(p: Buffer, pgno: number, off: number): number {
  return p[H_TYPE] === LEAF ? leafCellSize(p, pgno, off) : branchCellSize(p, pgno, off);
}

/** Bytes of the body in use: slots plus live cells. */
export function bodyUsed(p: Buffer): number {
  return 2 * count(p) + (p.length - upper(p)) - u16(p, H_FRAG);
}

/** Child page number of branch slot i (validated). */
export function childAt(p: Buffer, pgno: number, i: number): number {
  const off = slot(p, i);
  if (off < SLOTS + 2 * count(p) || off + BRANCH_HDR > p.length) throw corrupt(pgno, SLOTS + 2 * i, `slot ${i} offset ${off} outside the cell area`);
  const c = u32(p, off);
  if (c === 0 || c === pgno) throw corrupt(pgno, off, `bad child page number ${c}`);
  return c;
}

let compactScratch = Buffer.alloc(0);

/** Rewrites the cell area without holes; returns the new upper. */
export function compact(p: Buffer, pgno: number): number {
  const ps = p.length;
  if (compactScratch.length < ps) compactScratch = Buffer.alloc(ps);
  const s = compactScratch;
  const n = count(p);
  let up = ps;
  for (let i = 0; i < n; i++) {
    const so = SLOTS + 2 * i;
    const off = p[so] | (p[so + 1] << 8);
    const sz = cellSize(p, pgno, off);
    up -= sz;
    p.copy(s, up, off, off + sz);
    setU16(p, so, up);
  }
  s.copy(p, up, up, ps);
  setUpper(p, up);
  setU16(p, H_FRAG, 0);
  return up;
}

/**
 * Makes room for a cell of `size` bytes at slot index idx (shifting later slots); returns the
 * cell offset to write at, or -1 when the page has not enough free space even after compaction.
 * With `d` (the page's changed ranges), reports the slots and header fields it writes (a
 * compaction: the whole page); the caller reports the cell it writes.
 */
export function reserve(p: Buffer, pgno: number, idx: number, size: number, d?: Dirty): number {
  const n = count(p);
  const se = SLOTS + 2 * n;
  let up = upper(p);
  const need = size + 2;
  if (up - se < need) {
    if (up - se + u16(p, H_FRAG) < need) return -1;
    up = compact(p, pgno);
    d?.markAll();
  }
  up -= size;
  const so = SLOTS + 2 * idx;
  if (d !== undefined) {
    d.mark(H_COUNT, SLOTS); // count, upper
    d.mark(so, se + 2); // the new slot and the ones shifted after it
  }
  if (idx < n) p.copyWithin(so + 2, so, se);
  setU16(p, so, up);
  setUpper(p, up);
  setU16(p, H_COUNT, n + 1);
  return up;
}

/**
 * Removes slot idx and its cell (the space becomes fragmentation unless it was at upper). With
 * `d`, reports what it writes (the slots from idx on, count, upper, frag).
 */
export function removeSlot(p: Buffer, pgno: number, idx: number, d?: Dirty): void {
  const n = count(p);
  const so = SLOTS + 2 * idx;
  if (d !== undefined) {
    d.mark(H_COUNT, SLOTS);
    d.mark(so, SLOTS + 2 * n);
  }
  const off = p[so] | (p[so + 1] << 8);
  const sz = cellSize(p, pgno, off);
  p.copyWithin(so, so + 2, SLOTS + 2 * n);
  setU16(p, H_COUNT, n - 1);
  if (n === 1) {
    setUpper(p, p.length);
    setU16(p, H_FRAG, 0);
    return;
  }
  const up = upper(p);
  if (off === up) setUpper(p, up + sz);
  else setU16(p, H_FRAG, u16(p, H_FRAG) + sz);
}

// ---- overflow chains -------------------------------------------------------------------------
// An overflow page holds (pageSize - 32) data bytes at offset 32; its `prev` header field is the
// number of data bytes in the page, `next` the following page (0 at the end). Every page but the
// last is full, so a chain of L bytes has exactly ceil(L / capacity) pages.

function checkOvfPage(p: Buffer, pg: number, remaining: number, cap: number): number {
  if (p[H_TYPE] !== OVERFLOW) throw corrupt(pg, H_TYPE, `expected an overflow page, found type ${p[H_TYPE]}`);
  const n = u32(p, H_PREV);
  const want = remaining < cap ? remaining : cap;
  if (n !== want) throw corrupt(pg, H_PREV, `overflow page holds ${n} bytes, expected ${want}`);
  return n;
}

/** Writes src[start .. start+len) to a new chain; returns its first page number. */
export function writeChain(w: PageWriter, src: Buffer, start: number, len: number): number {
  const cap = ovfCapacity(w.pageSize);
  let first = 0;
  let prev = 0;
  let pos = start;
  let remaining = len;
  while (remaining > 0) {
    const n = remaining < cap ? remaining : cap;
    const { pgno, buf } = w.allocate(PageType.Overflow);
    buf[H_TYPE] = OVERFLOW;
    buf[H_FLAGS] = 0;
    setU16(buf, H_COUNT, 0);
    setU32(buf, H_NEXT, 0);
    setU32(buf, H_PREV, n);
    src.copy(buf, OVF_DATA, pos, pos + n);
    if (prev === 0) first = pgno;
    else setU32(writableWhole(w, prev), H_NEXT, pgno);
    prev = pgno;
    pos += n;
    remaining -= n;
  }
  return first;
}

/**
 * A new buffer holding `prefix` followed by a chain of len bytes. The chain is walked and checked
 * before the buffer is allocated, so a corrupt length field (up to 4 GiB) never sizes an
 * allocation by itself; a chain that comes back to one of its own pages is corruption.
 */
export function chainBuffer(r: PageReader, prefix: Buffer, first: number, len: number, owner: number, refOff: number): Buffer {
  const cap = ovfCapacity(r.pageSize);
  const parts: Buffer[] = [];
  const seen = new Set<number>();
  let pg = first;
  let remaining = len;
  while (remaining > 0) {
    if (pg === 0) throw corrupt(owner, refOff, `overflow chain ends ${remaining} bytes early`);
    if (seen.has(pg)) throw corrupt(owner, refOff, `overflow chain comes back to page ${pg}`);
    seen.add(pg);
    const p = r.page(pg);
    const n = checkOvfPage(p, pg, remaining, cap);
    parts.push(p.subarray(OVF_DATA, OVF_DATA + n));
    remaining -= n;
    const nx = u32(p, H_NEXT);
    if (remaining === 0 && nx !== 0) throw corrupt(pg, H_NEXT, 'overflow chain continues past its recorded length');
    pg = nx;
  }
  const out = Buffer.allocUnsafe(prefix.length + len);
  prefix.copy(out, 0);
  let pos = prefix.length;
  for (const part of parts) pos += part.copy(out, pos);
  return out;
}

/**
 * Compares key[from..] with a chain of len bytes (the rest of a stored key). Stops reading at the
 * first difference.
 */
export function compareChain(r: PageReader, key: Buffer, from: number, first: number, len: number, owner: number, refOff: number): number {
  const cap = ovfCapacity(r.pageSize);
  let pg = first;
  let remaining = len;
  let pos = from;
  const kl = key.length;
  while (remaining > 0) {
    if (pos >= kl) return -1; // the search key ended, the stored key goes on
    if (pg === 0) throw corrupt(owner, refOff, `overflow chain ends ${remaining} bytes early`);
    const p = r.page(pg);
    const n = checkOvfPage(p, pg, remaining, cap);
    const take = kl - pos < n ? kl - pos : n;
    const c = key.compare(p, OVF_DATA, OVF_DATA + take, pos, pos + take);
    if (c !== 0) return c;
    pos += take;
    remaining -= n;
    if (take < n) return -1;
    const nx = u32(p, H_NEXT);
    if (remaining === 0 && nx !== 0) throw corrupt(pg, H_NEXT, 'overflow chain continues past its recorded length');
    pg = nx;
  }
  return pos < kl ? 1 : 0;
}

/** Calls visit for every page of a chain (validating it), returns the page count. */
export function walkChain(r: PageReader, first: number, len: number, owner: number, refOff: number, visit?: (pgno: number) => void): number {
  const cap = ovfCapacity(r.pageSize);
  let pg = first;
  let remaining = len;
  let pages = 0;
  while (remaining > 0) {
    if (pg === 0) throw corrupt(owner, refOff, `overflow chain ends ${remaining} bytes early`);
    const p = r.page(pg);
    const n = checkOvfPage(p, pg, remaining, cap);
    if (visit) visit(pg);
    pages++;
    remaining -= n;
    const nx = u32(p, H_NEXT);
    if (remaining === 0 && nx !== 0) throw corrupt(pg, H_NEXT, 'overflow chain continues past its recorded length');
    pg = nx;
  }
  return pages;
}

/** Frees every page of a chain of len bytes. */
export function freeChain(w: PageWriter, first: number, len: number, owner: number, refOff: number): void {
  const cap = ovfCapacity(w.pageSize);
  let pg = first;
  let remaining = len;
  while (remaining > 0) {
    if (pg === 0) throw corrupt(owner, refOff, `overflow chain ends ${remaining} bytes early`);
    const p = w.page(pg);
    const n = checkOvfPage(p, pg, remaining, cap);
    remaining -= n;
    const nx = u32(p, H_NEXT);
    w.free(pg);
    pg = nx;
  }
}
