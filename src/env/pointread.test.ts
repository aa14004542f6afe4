// Point reads through Pager.peek (PERFORMANCE.md §W4): a page loaded for `db.get` only is a
// reusable frame, and its buffer is reused for a later load once it has been evicted. These
// tests run gets under a cache of a few pages (evictions on most reads, overflow keys and
// values so a descent loads pages while it holds others) interleaved with cursors, snapshots,
// transactions and checkpoints, and compare every result with a model. A frame reused while
// someone still held it would show as a wrong value or key here. Seeded: CAIRN_SEED replays.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimVfs } from '../io/sim.js';
import { Environment } from './environment.js';
import type { Database } from './database.js';
import { rng, randInt, randBytes, testSeeds } from '../util/random.js';
import { arenaCheck } from '../page/pager.js';

const HOME = '/env';
const PAGE = 1024;

type Model = Map<string, Buffer>; // hex key → value (hex order = memcmp order)

function sorted(m: Model): Array<[string, Buffer]> {
  return [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

async function openEnv(vfs: SimVfs, pages: number): Promise<[Environment, Database]> {
  const env = await Environment.open(HOME, { create: true, vfs, pageSize: PAGE, cacheSize: pages * PAGE, checkpoint: { kbytes: 0, minutes: 0 } });
  return [env, await env.openDatabase('p.db', { create: true })];
}

async function run(seed: number, snapshotsAcrossCommits: boolean): Promise<void> {
  const poisoned0 = arenaCheck.poisoned; // CAIRN_CHECKS=arena: buffers are poisoned instead of reused
  {
    const r = rng(seed);
    const where = (i: number, what: string) => `seed ${seed} step ${i}: ${what}; replay with CAIRN_SEED=${seed}`;
    const vfs = new SimVfs();
    vfs.mkdir(HOME, { recursive: true });
    vfs.syncDir('/');
    let [env, db] = await openEnv(vfs, 1000);
    // Keys: short ones, and long ones that overflow (inline prefix + chain) with shared prefixes
    // so separators in branch pages overflow too. Values: short, and overflowing.
    const model: Model = new Map();
    const longStem = randBytes(r, 200);
    const key = (i: number) => (i % 5 === 0 ? Buffer.concat([longStem, Buffer.from(String(i).padStart(8, '0')), randBytes(r, randInt(r, 900))]) : Buffer.from(`k${String(i).padStart(7, '0')}`));
    const value = () => randBytes(r, randInt(r, 8) === 0 ? 300 + randInt(r, 3000) : randInt(r, 80));
    const keys: Buffer[] = [];
    for (let b = 0; b < 6; b++) {
      const txn = env.begin();
      for (let i = 0; i < 250; i++) {
        const k = key(b * 250 + i);
        const v = value();
        keys.push(k);
        db.put(k, v, txn);
        model.set(k.toString('hex'), v);
      }
      await txn.commit();
    }
    await env.close();
    // Reopen with a cache of 24 pages: the tree is several hundred pages.
    [env, db] = await openEnv(vfs, 24);
    const absent = [Buffer.from('k9999999'), Buffer.concat([longStem, Buffer.from('zzzzzzzz')]), Buffer.alloc(0)];
    let cursor: { it: Iterator<[Buffer, Buffer]>; want: Array<[string, Buffer]>; at: number } | undefined;
    for (let i = 0; i < 6000; i++) {
      const dice = randInt(r, 100);
      if (dice < 70) {
        const k = randInt(r, 20) === 0 ? absent[randInt(r, absent.length)]! : keys[randInt(r, keys.length)]!;
        const want = model.get(k.toString('hex'));
        const got = db.get(k);
        if (want === undefined) assert.equal(got, undefined, where(i, 'get of an absent key'));
        else assert.ok(got !== undefined && got.equals(want), where(i, `get of key ${k.subarray(0, 8).toString('hex')}…`));
        if (got !== undefined) got.fill(0xee); // the returned value is the caller's own copy
        if (randInt(r, 10) === 0) {
          const all = db.getAll(k);
          assert.deepEqual(all, want === undefined ? [] : [want], where(i, 'getAll'));
        }
      } else if (dice < 85) {
        // A range iterator holding its snapshot's pages while gets evict and reuse frames.
        if (cursor === undefined) {
          cursor = { it: db.range()[Symbol.iterator](), want: sorted(model), at: 0 };
        }
        for (let s = randInt(r, 8); s >= 0 && cursor !== undefined; s--) {
          const e = cursor.it.next();
          if (e.done) {
            assert.equal(cursor.at, cursor.want.length, where(i, 'range ended early'));
            cursor = undefined;
          } else {
            const w: [string, Buffer] = cursor.want[cursor.at++]!;
            assert.equal(e.value[0].toString('hex'), w[0], where(i, `range key at ${cursor.at - 1}`));
            assert.ok(e.value[1].equals(w[1]), where(i, `range value at ${cursor.at - 1}`));
          }
        }
      } else if (dice < 97) {
        // Commits only while no iterator is open: see the todo test below.
        if (cursor !== undefined && !snapshotsAcrossCommits) continue;
        const txn = env.begin();
        const k = keys[randInt(r, keys.length)]!;
        const v = value();
        // A transaction reads through its own pages (Pager.read) before and after its write.
        assert.ok(db.get(k, txn)?.equals(model.get(k.toString('hex'))!), where(i, 'get in a transaction'));
        db.put(k, v, txn);
        assert.ok(db.get(k, txn)?.equals(v), where(i, 'get of its own write'));
        await txn.commit();
        model.set(k.toString('hex'), v);
      } else await env.checkpoint();
    }
    cursor?.it.return?.(undefined);
    const s = env.pager.stats;
    const reused = arenaCheck.on ? arenaCheck.poisoned - poisoned0 : s.framesReused;
    assert.ok(s.evictions > 1000 && reused > 1000, `seed ${seed}: the cache must evict and reuse (or poison) frames (evictions ${s.evictions}, reused ${reused})`);
    await env.close();
  }
}

for (const seed of testSeeds(3)) {
  test(`point reads with reused frames agree with a model, seed ${seed}`, () => run(seed, false));
}

// Known bug, present before frames were reused (the same failures with the frame pool removed):
// a page evicted while a snapshot is open and then changed by a commit is installed with no
// older version (Pager.install finds no cached page, so nothing goes to its history), and a
// clean page whose version is newer than an open snapshot may be evicted and reloaded from disk
// as if visible to every snapshot. The snapshot then fails an internal assertion ("no version
// of page N") or reads the newer value. The fix belongs in Pager.install / evict (see the report
// of branch t-read); this test turns green with it.
for (const seed of testSeeds(3)) {
  test(`iterators across commits under eviction see their snapshot, seed ${seed}`, () => run(seed, true));
}
