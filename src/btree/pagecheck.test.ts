// The structural check of pages read from disk (pagecheck.ts; issue 21, fuzz classes NEW-A,
// NEW-B, NEW-C): every page a B-tree writes passes it (seeded random trees with overflow keys,
// values and separators, deletes, sorted duplicates), and each kind of damage a crafted file can
// carry with a valid checksum — an entry count raised over stale slots or lowered, cell flags
// claiming an overflow the cell does not have, overlapping cells, an overflow
// page's byte count or link — is a CorruptionError naming the page and the field's offset.
// Seeded: CAIRN_SEED replays.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BTree } from './btree.js';
import { MemStore } from '../testing/memstore.js';
import { checkPageStructure } from './pagecheck.js';
import { BRANCH, F_KOVF, F_VOVF, H_COUNT, H_FRAG, H_NEXT, H_PREV, H_TYPE, LEAF, LEAF_HDR, OVERFLOW, SLOTS, count, ovfCapacity, slot, u16 } from './page.js';
import { CorruptionError } from '../util/errors.js';
import { randBytes, randInt, rng, testSeeds } from '../util/random.js';

const PS = 512;

/** A tree of 512-byte pages with branches, overflow keys, values and separators, and deletes. */
function build(seed: number, dup: 'none' | 'sorted' = 'none'): { w: MemStore; t: BTree } {
  const r = rng(seed);
  const w = new MemStore(PS);
  const t = new BTree(BTree.create(w), dup);
  const keys: Buffer[] = [];
  for (let i = 0; i < 600; i++) {
    const kl = [1, 8, 20, 60, 140, 400][randInt(r, 6)]!;
    const k = Buffer.concat([Buffer.from(`k${randInt(r, 1000)}`), randBytes(r, kl)]);
    const v = randBytes(r, [0, 3, 50, 110, 300, 2000][randInt(r, 6)]!);
    t.put(w, k, v);
    keys.push(k);
    if (randInt(r, 4) === 0) t.del(w, keys[randInt(r, keys.length)]!);
  }
  return { w, t };
}

function pages(w: MemStore): Array<[number, Buffer]> {
  const out: Array<[number, Buffer]> = [];
  for (let pg = 1; pg <= w.allocatedPages(); pg++) {
    try {
      out.push([pg, w.page(pg)]);
    } catch {
      // free
    }
  }
  return out;
}

function firstOf(w: MemStore, pred: (p: Buffer) => boolean): [number, Buffer] {
  const hit = pages(w).find(([, p]) => pred(p));
  assert.ok(hit !== undefined, 'no such page in the tree');
  return [hit[0], Buffer.from(hit[1])];
}

function rejects(p: Buffer, pgno: number, what: RegExp): void {
  assert.throws(
    () => checkPageStructure(p, pgno),
    (e: unknown) => e instanceof CorruptionError && e.file === `page ${pgno}` && what.test(e.what),
  );
}

test('every page a B-tree writes passes the structural check (seeded random trees, overflow keys and values, deletes, sorted duplicates)', () => {
  for (const seed of testSeeds(3)) {
    for (const dup of ['none', 'sorted'] as const) {
      const { w, t } = build(seed, dup);
      assert.deepEqual(t.verify(w), [], `seed ${seed}`);
      const types = new Set<number>();
      for (const [pg, p] of pages(w)) {
        types.add(p[H_TYPE]!);
        assert.doesNotThrow(() => checkPageStructure(p, pg), `seed ${seed} ${dup}: page ${pg} (type ${p[H_TYPE]})`);
      }
      assert.deepEqual([...types].sort(), [BRANCH, LEAF, OVERFLOW], `seed ${seed}: every page type occurs`);
    }
  }
});

test('a leaf entry count raised over stale slots or lowered (NEW-A) is CORRUPT', () => {
  const { w } = build(1);
  // A leaf that lost an entry in the middle: its dead cell is counted in frag, a stale slot follows the count.
  const [pg, leaf] = firstOf(w, (p) => p[H_TYPE] === LEAF && count(p) > 2 && u16(p, H_FRAG) > 0);
  for (const n of [count(leaf) + 1, count(leaf) - 1, 1, 0]) {
    const p = Buffer.from(leaf);
    p.writeUInt16LE(n, H_COUNT);
    rejects(p, pg, /fragmented bytes do not fill the cell area|outside the cell area|impossible|overlap/);
  }
});

test('cell flags claiming an overflow the cell does not have, or denying one it has (NEW-C), are CORRUPT', () => {
  const { w } = build(2);
  const [pg, leaf] = firstOf(w, (p) => p[H_TYPE] === LEAF && count(p) > 1);
  const off = slot(leaf, 0);
  for (const fl of [F_VOVF, F_KOVF, F_KOVF | F_VOVF, 4, 255]) {
    if (fl === leaf[off]) continue;
    const p = Buffer.from(leaf);
    p[off] = fl;
    rejects(p, pg, /flags|do not fill|runs past|overflowing|exceeds the inline limit|overlap/);
  }
  const [ov, vleaf] = firstOf(w, (p) => p[H_TYPE] === LEAF && [...Array(count(p)).keys()].some((i) => (p[slot(p, i)]! & F_VOVF) !== 0));
  const i = [...Array(count(vleaf)).keys()].find((j) => (vleaf[slot(vleaf, j)]! & F_VOVF) !== 0)!;
  const p = Buffer.from(vleaf);
  p[slot(p, i)] = 0;
  rejects(p, ov, /do not fill|overlap/);
  const [bg, branch] = firstOf(w, (q) => q[H_TYPE] === BRANCH && count(q) > 2);
  for (const k of [1, 2]) {
    const q = Buffer.from(branch);
    const bo = slot(q, k);
    q[bo + 4] ^= 1;
    rejects(q, bg, /do not fill|overlap|overflowing separator|runs past|exceeds/);
  }
  const q = Buffer.from(branch);
  q.writeUInt16LE(1, slot(q, 0) + 5);
  rejects(q, bg, /first branch cell has a key|do not fill|overlap|runs past/);
});

test('overlapping cells, a slot outside the cell area and sibling links to itself are CORRUPT', () => {
  const { w } = build(3);
  const [pg, leaf] = firstOf(w, (p) => p[H_TYPE] === LEAF && count(p) > 3);
  // A duplicated slot with frag lowered to make the accounting add up: the cells overlap.
  const dupSlot = Buffer.from(leaf);
  const so = slot(dupSlot, 1);
  const sz = LEAF_HDR + u16(dupSlot, so + 1) + u16(dupSlot, so + 3) + (dupSlot[so]! & F_KOVF ? 8 : 0) + (dupSlot[so]! & F_VOVF ? 8 : 0);
  const victim = slot(dupSlot, 2);
  const vsz = LEAF_HDR + u16(dupSlot, victim + 1) + u16(dupSlot, victim + 3) + (dupSlot[victim]! & F_KOVF ? 8 : 0) + (dupSlot[victim]! & F_VOVF ? 8 : 0);
  dupSlot.writeUInt16LE(so, SLOTS + 4);
  dupSlot.writeUInt16LE(u16(dupSlot, H_FRAG) + vsz - sz, H_FRAG);
  rejects(dupSlot, pg, /overlap/);
  const below = Buffer.from(leaf);
  below.writeUInt16LE(SLOTS + 2 * count(leaf), SLOTS);
  rejects(below, pg, /outside the cell area/);
  for (const at of [H_NEXT, H_PREV]) {
    const p = Buffer.from(leaf);
    p.writeUInt32LE(pg, at);
    rejects(p, pg, /linked to itself/);
  }
});

test('an overflow page whose byte count or link was changed (NEW-B: a chain cut short or run on) is CORRUPT', () => {
  const { w } = build(4);
  const cap = ovfCapacity(PS);
  const [pg, full] = firstOf(w, (p) => p[H_TYPE] === OVERFLOW && p.readUInt32LE(H_NEXT) !== 0);
  const [lg, last] = firstOf(w, (p) => p[H_TYPE] === OVERFLOW && p.readUInt32LE(H_NEXT) === 0 && p.readUInt32LE(H_PREV) < cap);
  for (const n of [0, cap - 1, cap + 1, 0xffffffff]) {
    const p = Buffer.from(full);
    p.writeUInt32LE(n, H_PREV);
    rejects(p, pg, /overflow page holds/);
  }
  const runOn = Buffer.from(last);
  runOn.writeUInt32LE(pg, H_NEXT);
  rejects(runOn, lg, /but the chain goes on/);
  const self = Buffer.from(full);
  self.writeUInt32LE(pg, H_NEXT);
  rejects(self, pg, /linked to itself/);
  const counted = Buffer.from(full);
  counted.writeUInt16LE(1, H_COUNT);
  rejects(counted, pg, /flags or a count/);
});
