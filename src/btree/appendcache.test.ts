// The cached append path (put.ts locateW / insertLeaf: an append after a non-splitting append
// to the rightmost leaf skips the descent) against the slow path. Two MemStores receive the same
// seeded operations, one with the cache on and one with it off (appendCache.on); after every
// batch every page of the two stores must be byte-for-byte equal, and the trees must verify.
// The operations interleave ascending runs (short keys, long keys sharing long prefixes,
// overflow keys and values) with puts elsewhere (new keys, replacements of other sizes,
// noOverwrite), deletes (single, (key, value), whole duplicate sets), splits and merges, three
// duplicate modes, several trees in one writer, a second BTree object on one tree, snapshots
// (the writer reused after a commit) and truncate. A second test runs random transactions with
// commits, aborts and interleaved transactions on a real environment against a model.
// Replay: CAIRN_SEED=<seed> node --test dist/btree/appendcache.test.js
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BTree, appendCache, type DupMode } from './btree.js';
import { MemStore } from '../testing/memstore.js';
import { fill } from '../testing/btreekit.js';
import { randBytes, randInt, rng, testSeeds } from '../util/random.js';
import { SimVfs } from '../io/sim.js';
import { Environment } from '../env/environment.js';
import type { Database } from '../env/database.js';
import type { Transaction } from '../txn/txn.js';

const MODES: DupMode[] = ['none', 'sorted', 'unsorted'];

function u32be(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** One operation, decided once and applied to both stores. */
type Op =
  | { kind: 'put'; tree: number; other: boolean; key: Buffer; value: Buffer; noOverwrite: boolean }
  | { kind: 'del'; tree: number; other: boolean; key: Buffer; value?: Buffer }
  | { kind: 'snapshot' }
  | { kind: 'truncate'; tree: number };

interface Side {
  w: MemStore;
  trees: BTree[];
  /** A second BTree object on trees[0]'s root (its own path and cache). */
  other: BTree;
}

function side(pageSize: number): Side {
  const w = new MemStore(pageSize);
  const trees = MODES.map((m) => new BTree(BTree.create(w), m));
  return { w, trees, other: new BTree(trees[0]!.root, 'none') };
}

function apply(s: Side, op: Op): unknown {
  switch (op.kind) {
    case 'put':
      return (op.other ? s.other : s.trees[op.tree]!).put(s.w, op.key, op.value, { noOverwrite: op.noOverwrite });
    case 'del':
      return (op.other ? s.other : s.trees[op.tree]!).del(s.w, op.key, op.value);
    case 'snapshot':
      s.w.snapshot();
      return undefined;
    case 'truncate':
      return s.trees[op.tree]!.truncate(s.w);
  }
}

/** Every allocated page of a equals b's (free pages on both sides alike). */
function samePages(a: MemStore, b: MemStore, msg: string): void {
  assert.equal(a.allocatedPages(), b.allocatedPages(), `${msg}: pages allocated`);
  assert.deepEqual(a.freeListPages(), b.freeListPages(), `${msg}: free list`);
  const free = new Set(a.freeListPages());
  for (let pg = 1; pg <= a.allocatedPages(); pg++) {
    if (free.has(pg)) continue;
    const x = a.page(pg);
    const y = b.page(pg);
    if (!x.equals(y)) {
      let i = 0;
      while (x[i] === y[i]) i++;
      assert.fail(`${msg}: page ${pg} differs at byte ${i} with the cache on (${x[i]}) and off (${y[i]})`);
    }
  }
}

describe('btree cached append path', () => {
  for (const seed of testSeeds(6)) {
    test(`same pages as the slow path over mixed operations (seed ${seed})`, () => {
      const r = rng(seed);
      const pageSize = [512, 1024, 4096][seed % 3]!;
      const on = side(pageSize);
      const off = side(pageSize);
      // Per tree: the user keys stored (hex) and the greatest one.
      const keys: Set<string>[] = MODES.map(() => new Set<string>());
      const top: Buffer[] = MODES.map(() => Buffer.alloc(0));
      const hits0 = appendCache.hits;
      let ops = 0;
      // A batch runs on one store, then on the other: every write through any tree (of either
      // store) invalidates every cached path, so alternating op by op would never take it.
      let batchOps: Op[] = [];
      const run = (op: Op): void => {
        ops++;
        batchOps.push(op);
      };
      const flush = (batch: number): void => {
        const ra = batchOps.map((op) => apply(on, op));
        appendCache.on = false;
        let rb: unknown[];
        try {
          rb = batchOps.map((op) => apply(off, op));
        } finally {
          appendCache.on = true;
        }
        for (let i = 0; i < ra.length; i++) assert.deepEqual(ra[i], rb[i], `seed ${seed} batch ${batch} op ${i} (${batchOps[i]!.kind}): results differ with the cache on and off`);
        batchOps = [];
      };
      const value = (tag: number): Buffer => {
        const big = randInt(r, 25) === 0;
        return fill(big ? pageSize + randInt(r, 2 * pageSize) : randInt(r, 48), seed * 1_000_003 + tag);
      };
      for (let batch = 0; batch < 120; batch++) {
        const t = randInt(r, MODES.length);
        const other = t === 0 && randInt(r, 3) === 0;
        const kind = randInt(r, 10);
        if (kind < 5) {
          // An ascending run above every key of the tree: base = top ++ one byte ++ filler.
          const fl = randInt(r, 8) === 0 ? 100 + randInt(r, 300) : randInt(r, 6);
          let base = Buffer.concat([top[t]!, Buffer.from([1 + randInt(r, 254)]), randBytes(r, fl)]);
          if (base.length > 700) base = Buffer.from([Math.min(0xff, top[t]![0]! + 1)]);
          const len = 1 + randInt(r, 200);
          for (let i = 0; i < len; i++) {
            const key = Buffer.concat([base, u32be(i)]);
            // Unsorted duplicates of the greatest key also go to the end of the tree.
            const times = MODES[t] === 'unsorted' && randInt(r, 4) === 0 ? 2 + randInt(r, 3) : 1;
            for (let k = 0; k < times; k++) run({ kind: 'put', tree: t, other, key, value: value(ops), noOverwrite: randInt(r, 20) === 0 });
            keys[t]!.add(key.toString('hex'));
            top[t] = key;
          }
        } else if (kind < 7) {
          // Puts elsewhere: existing keys (other value sizes) and random new keys.
          const n = 1 + randInt(r, 40);
          const have = [...keys[t]!];
          for (let i = 0; i < n; i++) {
            const key = have.length > 0 && randInt(r, 2) === 0 ? Buffer.from(have[randInt(r, have.length)]!, 'hex') : randBytes(r, 1 + randInt(r, randInt(r, 10) === 0 ? 300 : 12));
            run({ kind: 'put', tree: t, other, key, value: value(ops), noOverwrite: randInt(r, 6) === 0 });
            keys[t]!.add(key.toString('hex'));
            if (Buffer.compare(key, top[t]!) > 0) top[t] = key;
          }
        } else if (kind < 9) {
          // Deletes: enough of them to empty and merge leaves.
          const have = [...keys[t]!];
          const n = Math.min(have.length, 1 + randInt(r, 120));
          const from = randInt(r, Math.max(1, have.length - n));
          for (let i = 0; i < n; i++) {
            const key = Buffer.from(have[randInt(r, 3) === 0 ? randInt(r, have.length) : from + i]!, 'hex');
            // With a value only in duplicate trees (it removes that pair only); the key may survive.
            const withValue = MODES[t] !== 'none' && randInt(r, 3) === 0;
            run({ kind: 'del', tree: t, other, key, value: withValue ? value(ops) : undefined });
            if (!withValue) keys[t]!.delete(key.toString('hex'));
          }
        } else if (randInt(r, 8) === 0) {
          run({ kind: 'truncate', tree: t });
          keys[t]!.clear();
        } else run({ kind: 'snapshot' });
        flush(batch);
        samePages(on.w, off.w, `seed ${seed} batch ${batch} after ${ops} operations`);
        for (const tr of on.trees) assert.deepEqual(tr.verify(on.w), [], `seed ${seed} batch ${batch}: verify (${tr.dup})`);
      }
      // The cached path must have been taken, or the comparison above showed nothing.
      assert.ok(appendCache.hits - hits0 > ops / 10, `seed ${seed}: only ${appendCache.hits - hits0} cached appends in ${ops} operations`);
    });
  }

  test('a put from another writer, or after a snapshot, does not take the path', () => {
    const w = new MemStore(1024);
    const t = new BTree(BTree.create(w), 'none');
    for (let i = 0; i < 50; i++) t.put(w, u32be(i), fill(20, i));
    const h = appendCache.hits;
    t.put(w, u32be(50), fill(20, 50));
    assert.equal(appendCache.hits - h, 1, 'an append after an append takes the cached path');
    w.snapshot(); // the writer's private copies become the committed state
    t.put(w, u32be(51), fill(20, 51));
    assert.equal(appendCache.hits - h, 1, 'the first append after a snapshot descends');
    const t2 = new BTree(t.root, 'none');
    t2.put(w, u32be(52), fill(20, 52));
    t.put(w, u32be(53), fill(20, 53));
    assert.equal(appendCache.hits - h, 1, 'a write through another tree object invalidates the path');
    t.put(w, u32be(54), fill(20, 54));
    assert.equal(appendCache.hits - h, 2);
    assert.deepEqual(t.verify(w), []);
  });
});

// ---- a real environment: commits, aborts, interleaved transactions, several databases ----------

const HOME = '/env';

for (const seed of testSeeds(3)) {
  test(`environment: appends in transactions that commit, abort and interleave match a model (seed ${seed})`, async () => {
    const r = rng(seed);
    const vfs = new SimVfs();
    vfs.mkdir(HOME, { recursive: true });
    vfs.syncDir('/');
    const env = await Environment.open(HOME, { create: true, vfs, logFileSize: 256 * 1024, pageSize: 1024, cacheSize: 512 * 1024 });
    const dbs: Database[] = [
      await env.openDatabase('a.db', { create: true }),
      await env.openDatabase('a.db', { name: 'second', create: true }),
      await env.openDatabase('b.db', { create: true, duplicates: 'sorted' }),
    ];
    // Committed state per database: hex key → hex values (in order).
    const committed = dbs.map(() => new Map<string, string[]>());
    const top = dbs.map(() => 0);
    const hits0 = appendCache.hits;
    const keyOf = (n: number, long: boolean) => Buffer.concat([u32be(n), long ? Buffer.alloc(150, n & 0xff) : Buffer.alloc(0)]);
    const putModel = (m: Map<string, string[]>, i: number, k: Buffer, v: Buffer) => {
      const kh = k.toString('hex');
      const vh = v.toString('hex');
      if (dbs[i]!.duplicates === 'none') m.set(kh, [vh]);
      else {
        const vs = m.get(kh) ?? [];
        if (!vs.includes(vh)) vs.push(vh);
        vs.sort((a, b) => Buffer.compare(Buffer.from(a, 'hex'), Buffer.from(b, 'hex')));
        m.set(kh, vs);
      }
    };
    type Log = Array<(models: Map<string, string[]>[]) => void>;
    /** Random writes into txn; what they do to the model is added to log (applied at commit). */
    const work = (txn: Transaction, log: Log) => {
      const steps = 1 + randInt(r, 6);
      for (let s = 0; s < steps; s++) {
        const i = randInt(r, dbs.length);
        const db = dbs[i]!;
        const what = randInt(r, 6);
        if (what < 4) {
          const n = 1 + randInt(r, 150);
          const long = randInt(r, 6) === 0;
          for (let j = 0; j < n; j++) {
            const k = keyOf(++top[i]!, long);
            const v = randBytes(r, randInt(r, 12) === 0 ? 1500 : randInt(r, 40));
            db.put(k, v, txn);
            log.push((ms) => putModel(ms[i]!, i, k, v));
          }
        } else if (what === 4 && top[i]! > 0) {
          const n = 1 + randInt(r, 30);
          for (let j = 0; j < n; j++) {
            const k = keyOf(1 + randInt(r, top[i]!), randInt(r, 6) === 0);
            const v = randBytes(r, randInt(r, 60));
            db.put(k, v, txn);
            log.push((ms) => putModel(ms[i]!, i, k, v));
          }
        } else if (top[i]! > 0) {
          const n = 1 + randInt(r, 80);
          const from = 1 + randInt(r, top[i]!);
          for (let j = 0; j < n; j++) {
            for (const long of [false, true]) {
              const k = keyOf(from + j, long);
              db.del(k, txn);
              log.push((ms) => ms[i]!.delete(k.toString('hex')));
            }
          }
        }
      }
    };
    const check = (msg: string) => {
      for (let i = 0; i < dbs.length; i++) {
        const got: [string, string][] = [...dbs[i]!.range()].map(([k, v]) => [k.toString('hex'), v.toString('hex')]);
        const want: [string, string][] = [];
        for (const [k, vs] of [...committed[i]!].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) for (const v of vs) want.push([k, v]);
        assert.deepEqual(got, want, `seed ${seed} ${msg}: database ${i} differs from the model`);
        assert.deepEqual(dbs[i]!.verify(), [], `seed ${seed} ${msg}: database ${i} verify`);
      }
    };
    try {
      for (let round = 0; round < 60; round++) {
        const shape = randInt(r, 4);
        if (shape === 0) {
          // Two transactions interleaved in one process; the second commits after the first
          // (replayed on the first's outcome: a rebase) or aborts.
          const t1 = env.begin({ durability: 'nosync' });
          const t2 = env.begin({ durability: 'nosync' });
          const l1: Log = [];
          const l2: Log = [];
          work(t1, l1);
          work(t2, l2);
          work(t1, l1);
          work(t2, l2);
          await t1.commit();
          for (const f of l1) f(committed);
          if (randInt(r, 3) === 0) t2.abort();
          else {
            await t2.commit();
            for (const f of l2) f(committed);
          }
          check(`round ${round} (interleaved)`);
        } else {
          const txn = env.begin({ durability: 'nosync' });
          const log: Log = [];
          work(txn, log);
          if (shape === 1) {
            txn.abort();
            check(`round ${round} (aborted)`);
          } else {
            await txn.commit();
            for (const f of log) f(committed);
            check(`round ${round} (committed)`);
          }
        }
      }
      assert.ok(appendCache.hits - hits0 > 100, `seed ${seed}: only ${appendCache.hits - hits0} cached appends`);
    } finally {
      await env.close();
    }
  });
}
