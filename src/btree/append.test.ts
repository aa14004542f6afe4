// The write descent's append fast path (put.ts locateW): runs of ascending keys mixed with
// keys that go elsewhere (before the last key, equal to it, a prefix of it, in an earlier leaf),
// through two BTree objects on one tree (each keeps its own "appending" hint), checked against
// a sorted model after every run. Replay: CAIRN_SEED=<seed> node --test dist/btree/append.test.js
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BTree } from './btree.js';
import { checkTree, dump, fill, newTree } from '../testing/btreekit.js';
import { randInt, rng, testSeeds } from '../util/random.js';

function keyOf(r: () => number, n: number): Buffer {
  // Short alphabet and lengths 1..12: many shared prefixes, keys that are prefixes of others.
  const len = 1 + randInt(r, n);
  const k = Buffer.alloc(len);
  for (let i = 0; i < len; i++) k[i] = 0x61 + randInt(r, 3);
  return k;
}

describe('btree append fast path', () => {
  for (const seed of testSeeds(8)) {
    test(`ascending runs mixed with other keys match a model (seed ${seed})`, () => {
      const r = rng(seed);
      const pageSize = [512, 1024, 4096][seed % 3]!;
      const { w, t } = newTree(pageSize);
      const t2 = new BTree(t.root, 'none');
      const model = new Map<string, string>();
      let top: Buffer = Buffer.alloc(0);
      for (let run = 0; run < 40; run++) {
        const tree = randInt(r, 2) === 0 ? t : t2;
        const kind = randInt(r, 4);
        const len = 1 + randInt(r, 60);
        for (let i = 0; i < len; i++) {
          let k: Buffer;
          if (kind === 0) {
            // above everything stored: the append path
            k = Buffer.concat([top, Buffer.from([0x61 + randInt(r, 3)])]);
            if (randInt(r, 3) === 0) k = Buffer.concat([top.subarray(0, Math.max(0, top.length - 1)), Buffer.from([0x64 + randInt(r, 20)])]);
          } else if (kind === 1 && top.length > 0) {
            k = Buffer.from(top.subarray(0, 1 + randInt(r, top.length))); // a prefix of the last key (or it)
          } else k = keyOf(r, 12);
          const v = fill(1 + randInt(r, pageSize >> 3), seed * 1000 + run * 100 + i);
          tree.put(w, k, v);
          model.set(k.toString('hex'), v.toString('hex'));
          if (Buffer.compare(k, top) > 0) top = k;
        }
        if (randInt(r, 5) === 0 && model.size > 0) {
          const keys = [...model.keys()];
          const del = keys[randInt(r, keys.length)]!;
          assert.equal(t.del(w, Buffer.from(del, 'hex')), 1, `seed ${seed} run ${run}: del`);
          model.delete(del);
        }
        const want = [...model].sort(([a], [b]) => Buffer.compare(Buffer.from(a, 'hex'), Buffer.from(b, 'hex')));
        assert.deepEqual(dump(t, w), want, `seed ${seed} run ${run} (kind ${kind}): contents differ from the model`);
        checkTree(w, [t], `seed ${seed} run ${run}`);
      }
      for (const [k, v] of model) assert.equal(t2.get(w, Buffer.from(k, 'hex'))?.toString('hex'), v, `seed ${seed}: get ${k}`);
    });
  }
});
