// Helpers shared by the B-tree tests.

import assert from 'node:assert/strict';
import { BTree, type DupMode } from '../btree/btree.js';
import { MemStore } from './memstore.js';
import { maxCell, ovfCapacity } from '../btree/page.js';

export { maxCell, ovfCapacity };

export function newTree(pageSize = 4096, dup: DupMode = 'none'): { w: MemStore; t: BTree } {
  const w = new MemStore(pageSize);
  const t = new BTree(BTree.create(w), dup);
  return { w, t };
}

export const b = (s: string): Buffer => Buffer.from(s, 'latin1');
export const hex = (x: Buffer | undefined): string | undefined => (x === undefined ? undefined : x.toString('hex'));

/** verify() is clean and every allocated page is either in the tree (exactly once) or free. */
export function checkTree(w: MemStore, trees: BTree[], msg = ''): void {
  for (const t of trees) assert.deepEqual(t.verify(w), [], `verify ${msg}`);
  const seen = new Set<number>();
  for (const t of trees)
    t.walkPages(w, (pgno) => {
      assert.ok(!seen.has(pgno), `page ${pgno} walked twice ${msg}`);
      seen.add(pgno);
    });
  for (const f of w.freeListPages()) assert.ok(!seen.has(f), `page ${f} both free and in a tree ${msg}`);
  assert.equal(seen.size + w.freePages(), w.allocatedPages(), `pages accounted for ${msg}`);
  assert.equal(seen.size, w.livePages(), `live pages ${msg}`);
}

/** Every entry through a cursor, as [hex key, hex value]. */
export function dump(t: BTree, r: MemStore | { pageSize: number; page(n: number): Buffer }): [string, string][] {
  const out: [string, string][] = [];
  const c = t.cursor(r);
  for (let e = c.first(); e; e = c.next()) out.push([e[0].toString('hex'), e[1].toString('hex')]);
  return out;
}

/** Deterministic filler bytes for a value of length n tagged with seed. */
export function fill(n: number, seed: number): Buffer {
  const v = Buffer.allocUnsafe(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    v[i] = x & 0xff;
  }
  return v;
}
