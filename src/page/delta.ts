// The page_delta record's body (docs/FORMAT.md): the byte ranges in which a page changed, as the
// commit path encodes them and redo applies them.

import { assert } from '../util/assert.js';
import { PageOffset } from './format.js';

/**
 * The byte ranges in which `next` differs from `prev`, skipping the checksum and LSN fields,
 * encoded for a page_delta record: repeated (u32 offset, u32 length, bytes); ranges closer than
 * 16 bytes are merged. Written into `out` from `at` (room needed: 2 × the page size + 16 bytes,
 * the worst case of alternating ranges); returns their length. The commit path writes them where
 * the page_delta record's body goes (records.ts pageDeltaBody). With `from`/`to`, only bytes
 * [from, to) are compared (the caller knows the rest is equal: src/btree/ranges.ts diffRanges);
 * a range then ends at `to` at the latest, as the whole-page diff's does when at least 16 equal
 * bytes follow `to`.
 */
export function diffInto(prev: Buffer, next: Buffer, out: Buffer, at: number, from: number = PageOffset.pgno, to: number = next.length): number {
  const n = to;
  assert(out.length >= at + 2 * (n - from) + 16 && n <= next.length, 'room for a page diff');
  let len = at;
  // Equal stretches are skipped 4 bytes at a time through Int32 views when both pages are
  // 4-byte aligned (page buffers are: each has its own ArrayBuffer). Profiles of random loads
  // showed the former native 64-byte block compares (argument checks per call) costing more than
  // this loop. The ranges found are the same as a byte-by-byte scan finds. A short span (a few
  // changed blocks) is not worth the two views.
  const aligned = n - from >= 512 && prev.length >= n && (prev.byteOffset & 3) === 0 && (next.byteOffset & 3) === 0 && (n & 3) === 0;
  const pw = aligned ? new Int32Array(prev.buffer, prev.byteOffset, n >> 2) : EMPTY_WORDS;
  const nw = aligned ? new Int32Array(next.buffer, next.byteOffset, n >> 2) : EMPTY_WORDS;
  const nwords = pw.length;
  let i: number = from > PageOffset.pgno ? from : PageOffset.pgno;
  while (i < n) {
    while (i < n && (i & 3) !== 0 && prev[i] === next[i]) i++;
    if ((i & 3) === 0) {
      let w = i >> 2;
      while (w < nwords && pw[w] === nw[w]) w++;
      if (w > i >> 2) i = w << 2;
    }
    while (i < n && prev[i] === next[i]) i++;
    if (i >= n) break;
    const start = i;
    let end = i + 1;
    let j = end;
    while (j < n) {
      if (prev[j] !== next[j]) {
        end = j + 1;
        j++;
      } else if (j - end >= 16) break;
      else j++;
    }
    out.writeUInt32LE(start, len);
    out.writeUInt32LE(end - start, len + 4);
    next.copy(out, len + 8, start, end);
    len += 8 + end - start;
    i = end;
  }
  return len - at;
}

const EMPTY_WORDS = new Int32Array(0);

/** Applies a page_delta's ranges to `page` in place; throws on a malformed delta. */
export function applyDelta(page: Buffer, ranges: Buffer): void {
  let at = 0;
  while (at < ranges.length) {
    if (at + 8 > ranges.length) throw new Error('page delta is truncated');
    const off = ranges.readUInt32LE(at);
    const len = ranges.readUInt32LE(at + 4);
    if (at + 8 + len > ranges.length || off + len > page.length || off < PageOffset.pgno) throw new Error('page delta range is out of bounds');
    ranges.copy(page, off, at + 8, at + 8 + len);
    at += 8 + len;
  }
}
