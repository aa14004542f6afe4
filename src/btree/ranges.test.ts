// The changed ranges the B-tree reports (ranges.ts) against the whole-page diff they replace at
// commit: random B-tree operations in "transactions" over MemStore snapshots; for every page a
// transaction changed, the delta built from its ranges must be byte-identical to diffInto's, and
// applying it to the committed version must give exactly the new page. Seeded (testSeeds):
// replay a failure with CAIRN_SEED=<seed> node --test dist/btree/ranges.test.js.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BTree, type DupMode } from './btree.js';
import { MemStore } from '../testing/memstore.js';
import type { PageReader } from '../page/store.js';
import { Dirty, diffRanges, rangesOf, track, writableWhole } from '../page/ranges.js';
import { applyDelta, diffInto } from '../page/pager.js';
import { PageOffset } from '../page/format.js';
import { rng, randInt, randBytes, testSeeds } from '../util/random.js';

function pageOf(r: PageReader, pgno: number): Buffer | undefined {
  try {
    return r.page(pgno);
  } catch {
    return undefined;
  }
}

/** Compares every page changed since `base` (a snapshot of `w`); returns [pages by ranges, whole pages]. */
function checkChanged(w: MemStore, base: PageReader, where: string): [number, number] {
  const ps = w.pageSize;
  const full = Buffer.alloc(2 * ps + 16);
  const part = Buffer.alloc(2 * ps + 16);
  let byRanges = 0;
  let whole = 0;
  for (let pgno = 1; pgno <= w.allocatedPages(); pgno++) {
    const next = pageOf(w, pgno);
    const prev = pageOf(base, pgno);
    if (next === undefined || prev === undefined || next === prev) continue;
    const d = rangesOf(w, pgno, next);
    if (d === undefined) {
      whole++;
      continue;
    }
    byRanges++;
    const m = diffInto(prev, next, full, 0);
    const n = diffRanges(prev, d, part, 0);
    assert.equal(n, m, `${where}: page ${pgno}: delta length from ranges ${n}, whole-page diff ${m}`);
    assert.ok(part.subarray(0, n).equals(full.subarray(0, m)), `${where}: page ${pgno}: delta bytes differ from the whole-page diff`);
    const rebuilt = Buffer.from(prev);
    applyDelta(rebuilt, part.subarray(0, n));
    assert.ok(rebuilt.subarray(PageOffset.pgno).equals(next.subarray(PageOffset.pgno)), `${where}: page ${pgno}: base + delta is not the new page`);
  }
  return [byRanges, whole];
}

for (const seed of testSeeds(6)) {
  test(`changed ranges give the whole-page diff's delta over random B-tree transactions, seed ${seed}`, () => {
    const r = rng(seed);
    const pageSize = [512, 1024, 4096][seed % 3]!;
    const dup: DupMode = (['none', 'none', 'sorted', 'unsorted'] as const)[randInt(r, 4)]!;
    const w = new MemStore(pageSize);
    const trees = [new BTree(BTree.create(w), dup), new BTree(BTree.create(w), 'none')];
    const keys = Array.from({ length: 400 }, (_, i) => (i % 50 === 0 ? randBytes(r, 200 + randInt(r, 1500)) : randBytes(r, 1 + randInt(r, i % 3 === 0 ? 40 : 10))));
    const value = (): Buffer => (randInt(r, 40) === 0 ? randBytes(r, pageSize + randInt(r, 3 * pageSize)) : randBytes(r, randInt(r, 3) === 0 ? randInt(r, 200) : randInt(r, 20)));
    let byRanges = 0;
    let whole = 0;
    let ops = 0;
    for (let t = 0; t < 200; t++) {
      const base = w.snapshot();
      // Transactions of one to a few hundred operations: small ones (the commit path's case:
      // one put) change a page or two, large ones split, merge and compact.
      const n = randInt(r, 4) === 0 ? 1 + randInt(r, 300) : 1 + randInt(r, 4);
      for (let i = 0; i < n; i++, ops++) {
        const tree = trees[randInt(r, 8) === 0 ? 1 : 0]!;
        const k = keys[randInt(r, keys.length)]!;
        const dice = randInt(r, 100);
        if (dice < 60) tree.put(w, k, value());
        else if (dice < 65) tree.put(w, k, value(), { noOverwrite: true });
        else if (dice < 95) tree.del(w, k);
        else if (dice < 99 || tree.dup === 'none') {
          // Ascending runs: the append paths (a split that leaves the page as it is).
          const start = randInt(r, 1 << 20);
          for (let j = 0; j < 40; j++) tree.put(w, Buffer.from(`run${String(start + j).padStart(8, '0')}`), value());
        } else tree.truncate(w);
      }
      const [a, b] = checkChanged(w, base, `seed ${seed} transaction ${t} (replay with CAIRN_SEED=${seed})`);
      byRanges += a;
      whole += b;
    }
    // Not vacuous: hundreds of pages went through ranges, and the whole-page fallback ran too.
    assert.ok(byRanges > 300, `seed ${seed}: ${byRanges} pages by ranges, ${whole} whole (${ops} operations)`);
    assert.ok(whole > 0, `seed ${seed}: the whole-page fallback never ran`);
  });
}

test('a page made private before it is tracked, or touched by writableWhole, is diffed whole', () => {
  const w = new MemStore(1024);
  const t = new BTree(BTree.create(w), 'none');
  const root = 1;
  w.snapshot();
  // Changed by something that reports nothing, then tracked: whole.
  w.writable(root)[100] ^= 1;
  const d = track(w, root);
  assert.equal(d.whole, true);
  assert.equal(rangesOf(w, root, d.page), undefined);
  w.snapshot();
  // A fresh copy is tracked by ranges until a writableWhole.
  const e = track(w, root);
  assert.ok(e instanceof Dirty && !e.whole && e.lo === 0 && e.hi === 0);
  e.mark(100, 101);
  assert.equal(rangesOf(w, root, e.page), e);
  assert.equal(writableWhole(w, root), e.page);
  assert.equal(rangesOf(w, root, e.page), undefined);
  assert.ok(t.count(w) === 0);
});

test('Dirty.mark sets exactly the blocks a byte range touches (64-byte blocks; 1/64 of larger pages)', () => {
  const d = new Dirty(Buffer.alloc(4096), 6, false);
  d.mark(63, 65);
  assert.equal(d.lo, 0b11);
  d.mark(2047, 2049); // blocks 31 and 32
  assert.equal(d.lo >>> 0, (0b11 | (1 << 31)) >>> 0);
  assert.equal(d.hi, 1);
  d.mark(4095, 4096);
  assert.equal(d.hi >>> 0, (1 | (1 << 31)) >>> 0);
  d.mark(10, 10); // empty
  assert.equal(d.lo >>> 0, (0b11 | (1 << 31)) >>> 0);
  const w = new MemStore(65536);
  const big = new BTree(BTree.create(w), 'none');
  w.snapshot();
  big.put(w, Buffer.from('k'), Buffer.from('v'));
  const p = w.page(1);
  const e = rangesOf(w, 1, p)!;
  assert.equal(e.shift, 10); // 64 blocks of 1 KiB
  assert.ok(e.lo !== 0);
});
