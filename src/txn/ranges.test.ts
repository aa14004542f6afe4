// The commit path's deltas from the B-tree's changed ranges (src/btree/ranges.ts), end to end:
// with deltaCheck on, every range-built delta a commit logs is compared with the whole-page diff
// (a mismatch panics the commit); transactions of random puts and deletes in two databases of one
// file, interleaved writers (blind writes installed as they are, rebased ones, CONFLICT retries),
// checkpoints (images after them, deltas between), then a power loss and recovery, which replays
// the deltas: the recovered state must equal the model. Seeded: CAIRN_SEED=<seed> replays.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimVfs } from '../io/sim.js';
import { Environment } from '../env/environment.js';
import type { Database } from '../env/database.js';
import { deltaCheck } from '../page/ranges.js';
import { rng, randInt, randBytes, testSeeds } from '../util/random.js';

const HOME = '/env';

for (const seed of testSeeds(3)) {
  test(`range-built deltas equal the whole-page diff and recover after a power loss, seed ${seed}`, async () => {
    const was = deltaCheck.on;
    deltaCheck.on = true;
    const checkedBefore = deltaCheck.checked;
    try {
      const r = rng(seed);
      let vfs = new SimVfs();
      vfs.mkdir(HOME, { recursive: true });
      vfs.syncDir('/');
      const open = async (): Promise<[Environment, Database[]]> => {
        const env = await Environment.open(HOME, { create: true, vfs, logFileSize: 256 * 1024, pageSize: 1024, cacheSize: 512 * 1024, checkpoint: { kbytes: 0, minutes: 0 } });
        return [env, [await env.openDatabase('r.db', { name: 'a', create: true }), await env.openDatabase('r.db', { name: 'b', create: true })]];
      };
      let [env, dbs] = await open();
      const model = [new Map<string, Buffer>(), new Map<string, Buffer>()];
      const keys = Array.from({ length: 300 }, (_, i) => randBytes(r, 1 + randInt(r, i % 4 === 0 ? 60 : 12)));
      const value = (): Buffer => (randInt(r, 30) === 0 ? randBytes(r, 1500 + randInt(r, 3000)) : randBytes(r, randInt(r, 80)));
      const where = (i: number) => `seed ${seed} round ${i}; replay with CAIRN_SEED=${seed}`;
      let conflicts = 0;
      for (let i = 0; i < 300; i++) {
        const dice = randInt(r, 100);
        if (dice < 80) {
          // 1–3 concurrent writers, each a few puts/deletes; they commit in turn, so later ones
          // find others' commits since their begin (installed as they are, or rebased).
          const writers = 1 + randInt(r, 3);
          const txns = Array.from({ length: writers }, () => env.begin());
          const pending = txns.map(() => [new Map<string, Buffer | undefined>(), new Map<string, Buffer | undefined>()]);
          for (let w = 0; w < writers; w++) {
            const ops = randInt(r, 5) === 0 ? 1 + randInt(r, 80) : 1 + randInt(r, 3);
            for (let o = 0; o < ops; o++) {
              const d = randInt(r, 8) === 0 ? 1 : 0;
              const k = keys[randInt(r, keys.length)]!;
              if (randInt(r, 4) === 0) {
                dbs[d]!.del(k, txns[w]);
                pending[w]![d]!.set(k.toString('hex'), undefined);
              } else {
                const v = value();
                dbs[d]!.put(k, v, txns[w]);
                pending[w]![d]!.set(k.toString('hex'), v);
              }
            }
          }
          for (let w = 0; w < writers; w++) {
            try {
              await txns[w]!.commit({ durability: randInt(r, 3) === 0 ? 'nosync' : 'sync' });
            } catch (e) {
              if ((e as { code?: string }).code !== 'CONFLICT') throw e;
              conflicts++;
              continue;
            }
            for (let d = 0; d < 2; d++) {
              for (const [k, v] of pending[w]![d]!) {
                if (v === undefined) model[d]!.delete(k);
                else model[d]!.set(k, v);
              }
            }
          }
        } else if (dice < 90) {
          await env.checkpoint();
        } else {
          // Power loss: only what was synced survives (the nosync commits before the last sync one).
          await env.flushLog();
          const image = vfs.crash({ seed: seed * 1_000_003 + i, mode: 'random' });
          await env.close();
          vfs = image;
          [env, dbs] = await open();
        }
        if (i % 50 === 49) {
          for (let d = 0; d < 2; d++) {
            const got = [...dbs[d]!.range()].map(([k, v]) => `${k.toString('hex')}=${v.toString('hex')}`);
            const want = [...model[d]!].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v.toString('hex')}`);
            assert.deepEqual(got, want, `${where(i)}: database ${d}`);
          }
        }
      }
      await env.flushLog();
      const image = vfs.crash({ seed: seed * 7 + 1, mode: 'random' });
      await env.close();
      vfs = image;
      [env, dbs] = await open();
      for (let d = 0; d < 2; d++) {
        const got = [...dbs[d]!.range()].map(([k, v]) => `${k.toString('hex')}=${v.toString('hex')}`);
        const want = [...model[d]!].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v.toString('hex')}`);
        assert.deepEqual(got, want, `seed ${seed}: recovered database ${d}`);
        assert.deepEqual(dbs[d]!.verify(), [], `seed ${seed}: database ${d} verifies`);
      }
      await env.close();
      // Not vacuous: commits logged deltas from ranges, each checked against the whole-page diff.
      assert.ok(deltaCheck.checked - checkedBefore > 200, `seed ${seed}: ${deltaCheck.checked - checkedBefore} range-built deltas checked`);
    } finally {
      deltaCheck.on = was;
    }
  });
}
