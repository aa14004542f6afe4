// Damaged pages must raise CorruptionError (never hang, never return garbage), and verify()
// must name the problem.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CorruptionError } from '../util/errors.js';
import { BTree } from './btree.js';
import { MemStore } from '../testing/memstore.js';
import { newTree, b, fill } from '../testing/btreekit.js';

const isCorrupt = (e: unknown): boolean => e instanceof CorruptionError && /^page \d+ at offset \d+: /.test(e.message);

/** A 3-level tree over 512-byte pages with some overflow values. */
function build(): { w: MemStore; t: BTree; leaves: number[]; branches: number[]; ovf: number[] } {
  const { w, t } = newTree(512);
  for (let i = 0; i < 800; i++) t.put(w, b(`key${String(i).padStart(5, '0')}`), fill(i % 50 === 0 ? 2000 : 20, i));
  const leaves: number[] = [];
  const branches: number[] = [];
  const ovf: number[] = [];
  t.walkPages(w, (pg, type) => (type === 3 ? leaves : type === 2 ? branches : ovf).push(pg));
  assert.ok(t.stat(w).levels >= 3);
  return { w, t, leaves, branches, ovf };
}

/** Every read path over the tree; each must either succeed or throw CorruptionError. */
function exercise(t: BTree, w: MemStore): number {
  let thrown = 0;
  const attempt = (f: () => unknown): void => {
    try {
      f();
    } catch (e) {
      assert.ok(isCorrupt(e), `expected CorruptionError, got ${(e as Error).stack}`);
      thrown++;
    }
  };
  attempt(() => {
    for (let i = 0; i < 800; i += 7) t.get(w, b(`key${String(i).padStart(5, '0')}`));
  });
  attempt(() => t.scan(w, {}, () => {}));
  attempt(() => t.scan(w, { reverse: true }, () => {}));
  attempt(() => {
    const c = t.cursor(w);
    for (let e = c.first(), n = 0; e; e = c.next()) assert.ok(++n <= 800);
  });
  attempt(() => {
    const c = t.cursor(w);
    for (let e = c.last(), n = 0; e; e = c.prev()) assert.ok(++n <= 800);
  });
  attempt(() => t.count(w));
  attempt(() => t.stat(w));
  attempt(() => t.walkPages(w, () => {}));
  return thrown;
}

test('wrong page type in the tree is detected', () => {
  const { w, t, leaves, branches } = build();
  w.writable(leaves[3])[20] = 4;
  assert.ok(exercise(t, w) > 0);
  assert.ok(t.verify(w).some((p) => p.includes(`page ${leaves[3]}`)));
  w.writable(leaves[3])[20] = 3;
  w.writable(branches[1])[20] = 9;
  assert.ok(exercise(t, w) > 0);
  assert.ok(t.verify(w).length > 0);
});

test('impossible count and cell offsets are detected', () => {
  for (const damage of [
    (p: Buffer) => p.writeUInt16LE(5000, 22), // count beyond the page
    (p: Buffer) => p.writeUInt16LE(40, 32), // upper below the slot array
    (p: Buffer) => p.writeUInt16LE(10, 36), // slot 0 points into the header
    (p: Buffer) => p.writeUInt16LE(510, 38), // slot 1 runs off the end
    (p: Buffer) => {
      const off = p.readUInt16LE(36 + 4);
      p.writeUInt16LE(400, off + 1); // key length runs off the page
    },
    (p: Buffer) => {
      const off = p.readUInt16LE(36 + 2);
      p[off] = 9; // bad flags
    },
  ]) {
    const { w, t, leaves, branches } = build();
    damage(w.writable(leaves[5]));
    exercise(t, w);
    assert.ok(t.verify(w).length > 0);
    const x = build();
    damage(x.w.writable(x.branches[0]));
    exercise(x.t, x.w);
    assert.ok(x.t.verify(x.w).length > 0);
    void branches;
  }
});

test('broken overflow chains are detected', () => {
  const cases: ((w: MemStore, pg: number) => void)[] = [
    (w, pg) => (w.writable(pg)[20] = 3), // not an overflow page
    (w, pg) => w.writable(pg).writeUInt32LE(17, 28), // wrong byte count
    (w, pg) => w.writable(pg).writeUInt32LE(0, 24), // chain cut short
    (w, pg) => w.writable(pg).writeUInt32LE(pg, 24), // cycle: page points at itself
  ];
  for (const damage of cases) {
    const { w, t, ovf } = build();
    // the first page of some chain (its next is another overflow page)
    const first = ovf.find((pg) => ovf.includes(w.page(pg).readUInt32LE(24)))!;
    damage(w, first);
    assert.ok(exercise(t, w) > 0);
    assert.ok(t.verify(w).length > 0);
  }
  // last page claims a continuation
  const { w, t, ovf } = build();
  const last = ovf.find((pg) => w.page(pg).readUInt32LE(24) === 0)!;
  w.writable(last).writeUInt32LE(ovf[0], 24);
  assert.ok(exercise(t, w) > 0);
  assert.ok(t.verify(w).length > 0);
});

test('sibling link cycles and child cycles terminate with CorruptionError', () => {
  {
    const { w, t, leaves } = build();
    // leaf 5's next points back to leaf 2 (whose prev does not match)
    w.writable(leaves[5]).writeUInt32LE(leaves[2], 24);
    assert.ok(exercise(t, w) > 0);
    assert.ok(t.verify(w).length > 0);
  }
  {
    // a consistent two-leaf loop: links agree, key order catches it
    const { w, t } = newTree(512);
    for (let i = 0; i < 40; i++) t.put(w, b(`k${String(i).padStart(3, '0')}`), fill(20, i));
    const leaves: number[] = [];
    t.walkPages(w, (pg, type) => type === 3 && leaves.push(pg));
    assert.ok(leaves.length >= 2);
    const [a, z] = [leaves[0], leaves[leaves.length - 1]];
    w.writable(z).writeUInt32LE(a, 24);
    w.writable(a).writeUInt32LE(z, 28);
    assert.ok(exercise(t, w) > 0);
  }
  {
    // a branch child pointing back at the root
    const { w, t, branches } = build();
    const br = branches.find((pg) => pg !== t.root)!;
    const p = w.writable(br);
    const off = p.readUInt16LE(36);
    p.writeUInt32LE(t.root, off);
    assert.ok(exercise(t, w) > 0);
    assert.ok(t.verify(w).length > 0);
  }
});

test('verify reports order and separator violations', () => {
  const { w, t, leaves } = build();
  // swap two keys' last bytes inside a leaf
  const p = w.writable(leaves[4]);
  const o1 = p.readUInt16LE(36);
  const o2 = p.readUInt16LE(38);
  const k1 = o1 + 5 + p.readUInt16LE(o1 + 1) - 1;
  const k2 = o2 + 5 + p.readUInt16LE(o2 + 1) - 1;
  [p[k1], p[k2]] = [p[k2], p[k1]];
  assert.ok(t.verify(w).some((s) => s.includes('not above')));
  const x = build();
  // make the first key of a leaf smaller than its separator
  const q = x.w.writable(x.leaves[6]);
  const o = q.readUInt16LE(36);
  q[o + 5] = 0x20;
  assert.ok(x.t.verify(x.w).some((s) => s.includes('separator') || s.includes('not above')));
});
