// Randomized model test (issue 2): put/del/get/range/commit/abort/checkpoint/reopen/crash
// against an in-memory model, at least 100,000 operations per run. Seeded: CAIRN_SEED replays.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimVfs } from '../io/sim.js';
import { Environment } from './environment.js';
import type { Database } from './database.js';
import type { Transaction } from '../txn/txn.js';
import { rng, randInt, randBytes, testSeeds } from '../util/random.js';

const HOME = '/env';
const OPS = Number(process.env.CAIRN_MODEL_OPS ?? (process.env.CAIRN_NIGHTLY === '1' ? 1_000_000 : 34_000)); // 3 seeds: over 100,000 per run

type Model = Map<string, Buffer>; // hex key → value

/** Lowercase hex strings compare exactly as their bytes do under memcmp. */
function sortedEntries(m: Model): Array<[string, Buffer]> {
  return [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

for (const seed of testSeeds(3)) {
  test(`model test: ${OPS} random operations, seed ${seed}`, async () => {
    const r = rng(seed);
    let vfs = new SimVfs();
    vfs.mkdir(HOME, { recursive: true });
    vfs.syncDir('/');
    const open = async (): Promise<[Environment, Database]> => {
      const env = await Environment.open(HOME, { create: true, vfs, logFileSize: 128 * 1024, pageSize: 1024, cacheSize: 256 * 1024, checkpoint: { kbytes: 256, minutes: 0 } });
      return [env, await env.openDatabase('m.db', { create: true })];
    };
    let [env, db] = await open();
    const committed: Model = new Map();
    let txn: Transaction | undefined;
    let pending: Model = new Map(); // committed + txn's writes
    const keyPool = Array.from({ length: 600 }, (_, i) => (i % 7 === 0 ? Buffer.alloc(0) : randBytes(r, 1 + randInt(r, i % 3 === 0 ? 40 : 8))));
    keyPool[1] = Buffer.from([0]);
    keyPool[2] = Buffer.from([0xff, 0xff]);
    const pickKey = () => keyPool[randInt(r, keyPool.length)]!;
    const value = () => (randInt(r, 50) === 0 ? randBytes(r, 1000 + randInt(r, 6000)) : randBytes(r, randInt(r, 60)));
    const view = () => (txn ? pending : committed);
    const where = (i: number, op: string) => `seed ${seed} op ${i} (${op}); replay with CAIRN_SEED=${seed}`;
    for (let i = 0; i < OPS; i++) {
      const dice = randInt(r, 1000);
      if (dice < 380) {
        const k = pickKey();
        const v = value();
        if (txn) {
          db.put(k, v, txn);
          pending.set(k.toString('hex'), v);
        } else {
          await db.put(k, v);
          committed.set(k.toString('hex'), v);
        }
      } else if (dice < 520) {
        const k = pickKey();
        const had = view().has(k.toString('hex')) ? 1 : 0;
        const n = txn ? db.del(k, txn) : await db.del(k);
        assert.equal(n, had, where(i, 'del count'));
        view().delete(k.toString('hex'));
      } else if (dice < 800) {
        const k = pickKey();
        const got = db.get(k, txn);
        const want = view().get(k.toString('hex'));
        assert.ok(want === undefined ? got === undefined : got !== undefined && got.equals(want), where(i, 'get'));
        if (txn) {
          const outside = db.get(k);
          const c = committed.get(k.toString('hex'));
          assert.ok(c === undefined ? outside === undefined : outside?.equals(c), where(i, 'get outside txn'));
        }
      } else if (dice < 840) {
        const a = pickKey();
        const b = pickKey();
        const [lo, hi] = Buffer.compare(a, b) <= 0 ? [a, b] : [b, a];
        const reverse = randInt(r, 2) === 0;
        const limit = randInt(r, 3) === 0 ? 1 + randInt(r, 20) : undefined;
        const got = [...db.range({ gte: lo, lt: hi, reverse, limit }, txn)].map(([k, v]) => `${k.toString('hex')}=${v.toString('hex')}`);
        let want = sortedEntries(view())
          .filter(([k]) => k >= lo.toString('hex') && k < hi.toString('hex'))
          .map(([k, v]) => `${k}=${v.toString('hex')}`);
        if (reverse) want.reverse();
        if (limit !== undefined) want = want.slice(0, limit);
        assert.deepEqual(got, want, where(i, 'range'));
      } else if (dice < 900) {
        if (!txn) {
          txn = env.begin();
          pending = new Map(committed);
        } else if (randInt(r, 4) === 0) {
          txn.abort();
          txn = undefined;
        } else {
          await txn.commit();
          txn = undefined;
          for (const [k, v] of pending) committed.set(k, v);
          for (const k of [...committed.keys()]) if (!pending.has(k)) committed.delete(k);
        }
      } else if (dice < 930) {
        if (!txn) await env.checkpoint();
      } else if (dice < 960) {
        if (txn) continue;
        await env.close();
        [env, db] = await open();
      } else if (dice < 975) {
        if (txn) continue;
        // Power loss (unsynced writes dropped or torn), then recovery: every commit was sync.
        const image = vfs.crash({ seed: seed * 1_000_003 + i, mode: 'random' });
        await env.close();
        vfs = image;
        [env, db] = await open();
      } else {
        const got = db.count(txn);
        assert.equal(got, view().size, where(i, 'count'));
      }
    }
    if (txn) txn.abort();
    const all = [...db.range()].map(([k, v]) => `${k.toString('hex')}=${v.toString('hex')}`);
    assert.deepEqual(all, sortedEntries(committed).map(([k, v]) => `${k}=${v.toString('hex')}`), `seed ${seed}: final state`);
    assert.deepEqual(db.verify(), [], `seed ${seed}: tree verifies`);
    await env.close();
  });
}
