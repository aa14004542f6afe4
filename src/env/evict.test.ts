// The page cache stays within its budget during a load that never reads from disk (a bulk load):
// installed pages are evicted once write-backs (asked for by dirty-page pressure) made them clean,
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
      // The application yields between batches, or not: background write-backs progress either
      // way (a relaxed commit takes an event-loop turn while one runs).
      if (yields) await new Promise((res) => setImmediate(res));
      most = Math.max(most, env.stat().cache.pages);
    }
    const st = env.stat().cache;
    assert.ok(st.evictions > 0, `seed ${seed}: no page was evicted (${st.pages} cached)`);
    // Over the budget by at most what one write-back round leaves dirty plus the eviction slack.
    assert.ok(most <= BUDGET * 2, `seed ${seed}: ${most} pages cached at most, budget ${BUDGET}`);
    for (let i = 0; i < n; i++) assert.equal(db.get(key(i))?.toString(), value(i), `seed ${seed}: key ${i}`);
    await env.close();
    const again = await Environment.open(HOME, { vfs });
    const db2 = await again.openDatabase('a.db');
    for (let i = 0; i < n; i += 37) assert.equal(db2.get(key(i))?.toString(), value(i), `seed ${seed}: key ${i} after reopen`);
    await again.close();
  });
}

// Transactions that each change more pages than a write-back writes between two event-loop turns
// (a random load in large batches): without back-pressure the commits outrun the page writes and
// every page of the file ends up dirty in memory, far past the cache budget (W1r at 1,000,000
// entries: 44,000 dirty pages against a 16,384-page budget). A commit waits for a write-back when
// dirty pages exceed the budget, so at most the budget plus one transaction's pages are dirty —
// without checkpoints (automatic ones are off here), whose every round would make the next change
// of every page a full image (I4).
for (const seed of testSeeds(3)) {
  test(`commits that outrun write-backs wait for them: dirty pages stay within the budget plus one transaction, without checkpoints (seed ${seed})`, async () => {
    const vfs = new SimVfs();
    vfs.mkdir(HOME, { recursive: true });
    vfs.syncDir('/');
    const page = 512;
    const env = await Environment.open(HOME, { create: true, vfs, pageSize: page, cacheSize: BUDGET * page, logFileSize: 1024 * 1024, durability: 'nosync', checkpoint: false });
    const db = await env.openDatabase('a.db', { create: true });
    const r = rng(seed);
    const n = 30000;
    const batch = 1500;
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) { const j = randInt(r, i + 1); [order[i], order[j]] = [order[j]!, order[i]!]; }
    const key = (i: number) => `k${String(i).padStart(8, '0')}`;
    let most = 0;
    let widest = 0;
    for (let s = 0; s < n; s += batch) {
      const before = env.stat().cache.dirty;
      const txn = env.begin();
      for (let i = s; i < s + batch; i++) db.put(key(order[i]!), `v${order[i]}`, txn);
      const commit = txn.commit();
      // Right after the install (synchronous up to it): the pages this commit dirtied are counted.
      const after = env.stat().cache.dirty;
      widest = Math.max(widest, after - before);
      most = Math.max(most, after);
      await commit; // never yields otherwise
    }
    const pages = env.stat().cache.pages;
    assert.ok(widest > 256, `seed ${seed}: a transaction changed only ${widest} pages; the test needs more than a checkpoint writes per turn`);
    assert.ok(most <= BUDGET + widest, `seed ${seed}: ${most} dirty pages at most, budget ${BUDGET}, one transaction ${widest} (${pages} cached at the end)`);
    const st = env.stat();
    assert.ok(st.cache.writeBacks > n / batch / 2, `seed ${seed}: ${st.cache.writeBacks} write-backs in ${n / batch} commits`);
    assert.equal(st.checkpoint.count, 0, `seed ${seed}: only write-backs write pages during the load`);
    for (let i = 0; i < n; i += 7) assert.equal(db.get(key(i))?.toString(), `v${i}`, `seed ${seed}: key ${i}`);
    // A power loss with torn unsynced writes after the log is made durable: no checkpoint ran, so
    // every page written back during the load is unsynced and torn at 128-byte sectors, and
    // recovery (from the redo point the environment was created with) rebuilds each from the full
    // image of its first change, then its deltas (I1, I4): every key is there.
    await env.flushLog();
    const image = vfs.crash({ seed, mode: 'torn', sectorBytes: 128 });
    await env.close();
    const again = await Environment.open(HOME, { vfs: image });
    const db2 = await again.openDatabase('a.db');
    for (let i = 0; i < n; i += 7) assert.equal(db2.get(key(i))?.toString(), `v${i}`, `seed ${seed}: key ${i} after a power loss`);
    await again.close();
  });
}
