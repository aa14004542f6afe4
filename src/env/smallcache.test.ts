// A cache of a few pages under cursors, iterators and transactions held open: gets evict
// constantly, and cursors and iterators held across them (with and without a transaction),
// transactions reading their snapshot, and checkpoints must keep seeing exactly their snapshot.
// Beside pointread.test.ts (point reads and reused page buffers), this one holds cursors inside
// transactions, scans and checkpoints. On the tree before this session's merges it failed in two
// ways: a commit of a page evicted since the transaction read it left older snapshots without a
// version of it (an internal assertion; fixed in Pager.install), and a checkpoint whose first
// read evicted under dirty-page pressure started itself again, recursively (fixed: pressure asks
// for a checkpoint in a microtask). Each run checks that buffers were reused under it.
// Seeded: CAIRN_SEED replays.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimVfs } from '../io/sim.js';
import { Environment } from './environment.js';
import type { Database, DbCursor } from './database.js';
import type { Transaction } from '../txn/txn.js';
import { rng, randInt, randBytes, testSeeds } from '../util/random.js';
import { arenaCheck } from '../page/pager.js';

const HOME = '/env';
const OPS = process.env.CAIRN_NIGHTLY === '1' ? 100_000 : 3_200;
const KEYS = 2_000;

const keyOf = (i: number) => Buffer.from(String(i).padStart(8, '0'));

/** A snapshot of the model: its entries in key order. */
type Snap = Array<[string, string]>;

function snap(m: Map<string, Buffer>): Snap {
  return [...m].map(([k, v]) => [k, v.toString('hex')] as [string, string]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

interface HeldCursor {
  cursor: DbCursor;
  want: Snap;
  at: number;
}

interface HeldIter {
  it: Iterator<[Buffer, Buffer]>;
  want: Snap;
  at: number;
}

for (const seed of testSeeds(3)) {
  test(`small cache: ${OPS} operations with a 16-page cache, cursors and iterators held across evictions, seed ${seed}`, async () => {
    const poisoned0 = arenaCheck.poisoned; // CAIRN_CHECKS=arena: buffers are poisoned instead of reused
    const r = rng(seed);
    const where = (i: number, what: string) => `seed ${seed} op ${i} (${what}); replay with CAIRN_SEED=${seed}`;
    const vfs = new SimVfs();
    vfs.mkdir(HOME, { recursive: true });
    vfs.syncDir('/');
    const options = { create: true, vfs, cacheSize: 16 * 4096, durability: 'nosync', checkpoint: { kbytes: 0, minutes: 0 } } as const;
    let env = await Environment.open(HOME, options);
    let db: Database = await env.openDatabase('r.db', { create: true });
    const model = new Map<string, Buffer>();
    // About 35 leaves of 4 KiB, twice the cache; reopened so that reads start from disk.
    const load = env.begin();
    for (let i = 0; i < KEYS; i += 2) {
      const v = randBytes(r, 100);
      db.put(keyOf(i), v, load);
      model.set(keyOf(i).toString(), v);
    }
    await load.commit();
    await env.close();
    env = await Environment.open(HOME, options);
    db = await env.openDatabase('r.db');
    const cursors: HeldCursor[] = [];
    const iters: HeldIter[] = [];
    let txn: Transaction | undefined;
    let pending = new Map<string, Buffer>();
    let txnSnap: Snap = [];
    let txnCursor: HeldCursor | undefined;
    const entry = (e: [Buffer, Buffer] | IteratorResult<[Buffer, Buffer]> | undefined) => {
      const pair = e === undefined ? undefined : Array.isArray(e) ? e : e.done ? undefined : e.value;
      return pair === undefined ? undefined : [pair[0].toString(), pair[1].toString('hex')];
    };
    for (let i = 0; i < OPS; i++) {
      // Every 400 operations, 80 with nothing held: the only time buffers are recycled.
      const quiet = i % 400 >= 320;
      if (i % 400 === 320) {
        for (const c of cursors) c.cursor.close();
        for (const h of iters) h.it.return?.();
        cursors.length = 0;
        iters.length = 0;
        txnCursor?.cursor.close();
        txnCursor = undefined;
        txn?.abort();
        txn = undefined;
      }
      const dice = quiet ? randInt(r, 45) : randInt(r, 100);
      if (dice < 45) {
        const k = keyOf(randInt(r, KEYS));
        const got = db.get(k);
        const want = model.get(k.toString());
        assert.ok(want === undefined ? got === undefined : got?.equals(want), where(i, `get ${k}`));
      } else if (dice < 55) {
        if (cursors.length < 4) {
          const start = randInt(r, KEYS);
          const want = snap(model);
          const cursor = db.cursor();
          let at = want.findIndex(([k]) => k >= keyOf(start).toString());
          if (at < 0) at = want.length;
          assert.deepEqual(entry(cursor.seek(keyOf(start))), want[at], where(i, 'cursor seek'));
          cursors.push({ cursor, want, at });
        } else {
          const c = cursors[randInt(r, cursors.length)]!;
          for (let s = randInt(r, 12); s >= 0 && c.at < c.want.length; s--) {
            c.at++;
            assert.deepEqual(entry(c.cursor.next()), c.want[c.at], where(i, 'cursor next'));
          }
          if (c.at >= c.want.length || randInt(r, 4) === 0) {
            c.cursor.close();
            cursors.splice(cursors.indexOf(c), 1);
          }
        }
      } else if (dice < 63) {
        if (iters.length < 3) {
          const want = snap(model);
          const it = db.range({ reverse: false })[Symbol.iterator]();
          assert.deepEqual(entry(it.next()), want[0], where(i, 'range first'));
          iters.push({ it, want, at: 0 });
        } else {
          const h = iters[randInt(r, iters.length)]!;
          for (let s = randInt(r, 20); s >= 0 && h.at < h.want.length; s--) {
            h.at++;
            assert.deepEqual(entry(h.it.next()), h.want[h.at], where(i, 'range next'));
          }
          if (h.at >= h.want.length || randInt(r, 3) === 0) {
            h.it.return?.();
            iters.splice(iters.indexOf(h), 1);
          }
        }
      } else if (dice < 90) {
        if (txn === undefined) {
          txn = env.begin();
          pending = new Map(model);
          txnSnap = snap(model);
          if (randInt(r, 2) === 0) {
            const cursor = db.cursor(txn);
            assert.deepEqual(entry(cursor.first()), txnSnap[0], where(i, 'txn cursor first'));
            txnCursor = { cursor, want: txnSnap, at: 0 };
          }
        }
        const k = keyOf(randInt(r, KEYS));
        if (randInt(r, 5) === 0) {
          db.del(k, txn);
          pending.delete(k.toString());
        } else if (randInt(r, 3) === 0) {
          const got = db.get(k, txn);
          const want = pending.get(k.toString());
          assert.ok(want === undefined ? got === undefined : got?.equals(want), where(i, `get ${k} in txn`));
        } else {
          const v = randBytes(r, randInt(r, 3) === 0 ? 300 : 100);
          db.put(k, v, txn);
          pending.set(k.toString(), v);
        }
        if (txnCursor !== undefined && txnCursor.at < txnCursor.want.length && randInt(r, 3) === 0) {
          // The cursor reads the transaction's view: its own writes may move under it, so only
          // check that it still returns sound entries in key order.
          const e = entry(txnCursor.cursor.next());
          if (e !== undefined) assert.ok(e[0]! > txnCursor.want[txnCursor.at]![0], where(i, 'txn cursor order'));
          txnCursor.at = e === undefined ? txnCursor.want.length : txnCursor.want.findIndex(([k]) => k >= e[0]!);
          if (txnCursor.at < 0) txnCursor.at = txnCursor.want.length;
        }
        if (randInt(r, 10) === 0) {
          txnCursor?.cursor.close();
          txnCursor = undefined;
          if (randInt(r, 5) === 0) txn.abort();
          else {
            await txn.commit();
            model.clear();
            for (const [k, v] of pending) model.set(k, v);
          }
          txn = undefined;
        }
      } else if (dice < 93) {
        await env.checkpoint();
      } else {
        // A full scan in a transaction of its own while everything else is held.
        const want = snap(model);
        const got = await env.transaction((t) => [...db.range({}, t)].map(([k, v]) => [k.toString(), v.toString('hex')]), { readOnly: true });
        assert.deepEqual(got, want, where(i, 'scan'));
      }
    }
    for (const c of cursors) c.cursor.close();
    for (const h of iters) h.it.return?.();
    txnCursor?.cursor.close();
    if (txn !== undefined) txn.abort();
    const stats = env.pager.stats;
    const reused = arenaCheck.on ? arenaCheck.poisoned - poisoned0 : stats.framesReused;
    assert.ok(stats.evictions > 1000 && reused > 100, `seed ${seed}: the cache must evict and reuse (or poison) buffers (evictions ${stats.evictions}, reused ${reused})`);
    await env.close();
  });
}
