// The page cache stays within its budget during a load that never reads from disk (a bulk load):
// installed pages are evicted once checkpoints (asked for by dirty-page pressure) made them clean,
// and every entry reads back afterwards, from the cache or from the data file (Pager.install).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimVfs } from '../io/sim.js';
import { Environment } from './environment.js';
import { rng, randInt, testSeeds } from '../util/random.js';

const HOME = '/env';
const PAGE = 1024;
const BUDGET = 64; // pages

const cases = testSeeds(3).flatMap((seed) => [
  { seed, yields: true },
  { seed, yields: false },
]);

for (const { seed, yields } of cases) {
  test(`a load that only writes keeps the cache within its budget (seed ${seed}, ${yields ? 'the loader yields between batches' : 'the loader never yields: only awaits its commits'})`, async () => {
    const vfs = new SimVfs();
    vfs.mkdir(HOME, { recursive: true });
    vfs.syncDir('/');
    const env = await Environment.open(HOME, { create: true, vfs, pageSize: PAGE, cacheSize: BUDGET * PAGE, logFileSize: 256 * 1024, durability: 'nosync', checkpoint: false });
    const db = await env.openDatabase('a.db', { create: true });
    const r = rng(seed);
    const n = 4000;
    const order = Array.from({ length: n }, (_, i) => i);
    if (seed % 2 === 0) for (let i = n - 1; i > 0; i--) { const j = randInt(r, i + 1); [order[i], order[j]] = [order[j]!, order[i]!]; }
    const key = (i: number) => `k${String(i).padStart(8, '0')}`;
    const value = (i: number) => `v${i}`.repeat(1 + (i % 7));
    // A random order changes a leaf per put: smaller transactions, so that one commit's pages fit.
    const batch = seed % 2 === 0 ? 10 : 100;
    let most = 0;
    for (let s = 0; s < n; s += batch) {
      const txn = env.begin();
      for (let i = s; i < s + batch; i++) db.put(key(order[i]!), value(order[i]!), txn);
      await txn.commit();
      // The application yields between batches, or not: background checkpoints progress either
      // way (a relaxed commit takes an event-loop turn while a checkpoint runs).
      if (yields) await new Promise((res) => setImmediate(res));
      most = Math.max(most, env.stat().cache.pages);
    }
    const st = env.stat().cache;
    assert.ok(st.evictions > 0, `seed ${seed}: no page was evicted (${st.pages} cached)`);
    // Over the budget by at most what one checkpoint round leaves dirty plus the eviction slack.
    assert.ok(most <= BUDGET * 2, `seed ${seed}: ${most} pages cached at most, budget ${BUDGET}`);
    for (let i = 0; i < n; i++) assert.equal(db.get(key(i))?.toString(), value(i), `seed ${seed}: key ${i}`);
    await env.close();
    const again = await Environment.open(HOME, { vfs });
    const db2 = await again.openDatabase('a.db');
    for (let i = 0; i < n; i += 37) assert.equal(db2.get(key(i))?.toString(), value(i), `seed ${seed}: key ${i} after reopen`);
    await again.close();
  });
}
