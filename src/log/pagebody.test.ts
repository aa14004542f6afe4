// The commit path's page record encoders (records.ts pageImageBody / pageDeltaBody, with
// pager.ts diffInto writing the ranges in place) against the slow path they replace:
// encodeRecord of the record with diffInto's ranges, and those ranges against a byte-by-byte
// reference. Byte-identical bodies, random page pairs (aligned and not).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PAGE_DELTA_FIXED, commitBody, decodeRecord, encodeRecord, pageDeltaBody, pageImageBody } from './records.js';
import { diffInto } from '../page/pager.js';
import { makeLsn } from '../util/lsn.js';
import { randBytes, randInt, rng, testSeeds } from '../util/random.js';

/** A copy of `base` with a few random stretches changed (sometimes none). */
function mutate(r: () => number, base: Buffer): Buffer {
  const next = Buffer.from(base);
  const n = randInt(r, 6);
  for (let i = 0; i < n; i++) {
    const len = 1 + randInt(r, randInt(r, 4) === 0 ? Math.min(600, next.length - 1) : 20);
    const at = randInt(r, next.length - len);
    randBytes(r, len).copy(next, at);
  }
  return next;
}

/** diffInto's documented ranges, found byte by byte (the word skipping of diffInto must find the same). */
function referenceDiff(prev: Buffer, next: Buffer): Buffer {
  const parts: Buffer[] = [];
  const n = next.length;
  let i = 12; // past the checksum and LSN fields
  while (i < n) {
    if (prev[i] === next[i]) {
      i++;
      continue;
    }
    const start = i;
    let end = i + 1;
    // A difference after up to 16 equal bytes joins the range.
    for (let j = end; j < n && j - end <= 16; j++) if (prev[j] !== next[j]) end = j + 1;
    const head = Buffer.alloc(8);
    head.writeUInt32LE(start, 0);
    head.writeUInt32LE(end - start, 4);
    parts.push(head, next.subarray(start, end));
    i = end;
  }
  return Buffer.concat(parts);
}

/** A view of `buf`'s bytes starting at byte offset `shift` of a larger buffer (unaligned when shift % 4 ≠ 0). */
function shifted(buf: Buffer, shift: number): Buffer {
  const big = Buffer.alloc(buf.length + shift);
  buf.copy(big, shift);
  return big.subarray(shift);
}

for (const seed of testSeeds(8)) {
  test(`page_delta bodies written in place equal encodeRecord's (seed ${seed})`, () => {
    const r = rng(seed);
    const dst = Buffer.alloc(PAGE_DELTA_FIXED + 2 * 8192 + 16);
    for (let i = 0; i < 300; i++) {
      const size = [512, 4096, 8192][randInt(r, 3)]!;
      let prev = randBytes(r, size);
      let next = mutate(r, prev);
      if (randInt(r, 5) === 0) {
        prev = shifted(prev, 1 + randInt(r, 3));
        next = shifted(next, randInt(r, 4));
      }
      const txn = randInt(r, 0xffff_fff0);
      const file = randInt(r, 1000);
      const pgno = randInt(r, 1 << 30);
      const lsn = makeLsn(1 + randInt(r, 0xffff), randInt(r, 0xffff_ffff));
      dst.fill(0xee);
      const n = diffInto(prev, next, dst, PAGE_DELTA_FIXED);
      const ranges = Buffer.from(dst.subarray(PAGE_DELTA_FIXED, PAGE_DELTA_FIXED + n));
      assert.equal(n, referenceDiff(prev, next).length, `seed ${seed}, pair ${i}: ranges length`);
      assert.ok(ranges.equals(referenceDiff(prev, next)), `seed ${seed}, pair ${i}: ranges differ from the byte-by-byte reference`);
      const body = pageDeltaBody(dst, txn, file, pgno, lsn, n);
      const want = encodeRecord({ type: 'page_delta', txn, file, pgno, prev: lsn, ranges });
      assert.ok(body.equals(want), `seed ${seed}, pair ${i}: body differs from encodeRecord's`);
      assert.deepEqual(decodeRecord(body), { type: 'page_delta', txn, file, pgno, prev: lsn, ranges });
    }
  });

  test(`page_image bodies written in place equal encodeRecord's (seed ${seed})`, () => {
    const r = rng(seed);
    const dst = Buffer.alloc(20000, 0xee);
    for (let i = 0; i < 50; i++) {
      const image = randBytes(r, [512, 4096, 8192][randInt(r, 3)]!);
      const txn = randInt(r, 0xffff_fff0);
      const file = randInt(r, 1000);
      const pgno = randInt(r, 1 << 30);
      const body = pageImageBody(dst, txn, file, pgno, image);
      assert.ok(body.equals(encodeRecord({ type: 'page_image', txn, file, pgno, image })), `seed ${seed}, image ${i}`);
    }
  });

  test(`commit bodies written in place equal encodeRecord's (seed ${seed})`, () => {
    const r = rng(seed);
    const dst = Buffer.alloc(64, 0xee);
    for (let i = 0; i < 200; i++) {
      const txn = randInt(r, 0xffff_fff0);
      // Times with a fraction and LSNs spanning both halves of the packed double.
      const time = randInt(r, 0x7fff_ffff) * 1000 + randInt(r, 1000) + (randInt(r, 2) === 0 ? 0 : 0.5);
      const durable = makeLsn(randInt(r, 2_097_151), randInt(r, 0xffff_ffff));
      const body = commitBody(dst, txn, time, durable);
      assert.ok(body.equals(encodeRecord({ type: 'commit', txn, time, durable })), `seed ${seed}, commit ${i}`);
      assert.deepEqual(decodeRecord(body), { type: 'commit', txn, time, durable });
    }
  });
}

test('an unchanged page has no ranges (checksum and LSN fields are not compared)', () => {
  const prev = Buffer.alloc(4096, 7);
  const next = Buffer.from(prev);
  next.fill(1, 0, 12);
  const dst = Buffer.alloc(PAGE_DELTA_FIXED + 2 * 4096 + 16);
  assert.equal(diffInto(prev, next, dst, PAGE_DELTA_FIXED), 0);
  next[4095] = 8;
  assert.equal(diffInto(prev, next, dst, PAGE_DELTA_FIXED), 9);
  assert.throws(() => diffInto(prev, next, Buffer.alloc(100), 0), /room for a page diff/);
});
