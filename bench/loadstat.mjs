#!/usr/bin/env node
// A bulk load as ab.mjs's W1ML runs it (1,000,000 sequential puts, 1,000 per nosync
// transaction, 64 MiB cache), in its own process, printing the load's wall time, close's, and
// the environment's own figures before close: checkpoints, pages written (and by write-back),
// dirty pages left, log volume, evictions. Alternate builds by hand to compare them:
//   node bench/loadstat.mjs OLD/dist/index.js /dev/shm/loadstat
//   node bench/loadstat.mjs dist/index.js /dev/shm/loadstat
import * as fs from 'node:fs';
import * as path from 'node:path';

const [dist = 'dist/index.js', dir = path.join(fs.realpathSync('/tmp'), 'cairn-loadstat')] = process.argv.slice(2);
const cairn = await import(path.resolve(dist));
fs.rmSync(dir, { recursive: true, force: true });
const env = await cairn.Environment.open(dir, { create: true, durability: 'nosync', cacheSize: 64 << 20 });
const db = await env.openDatabase('bench.db', { create: true });
const value = Buffer.alloc(100, 7);
const t0 = performance.now();
for (let s = 0; s < 1_000_000; s += 1000) {
  const txn = env.begin({ durability: 'nosync' });
  for (let i = s; i < s + 1000; i++) {
    const key = Buffer.alloc(16);
    key.writeUInt32BE(i, 12);
    db.put(key, value, txn);
  }
  await txn.commit();
}
await env.flushLog();
const t1 = performance.now();
const st = env.stat();
await env.close();
const t2 = performance.now();
fs.rmSync(dir, { recursive: true, force: true });
const c = st.cache;
console.log(
  `${dist}: load ${(t1 - t0).toFixed(0)} ms, close ${(t2 - t1).toFixed(0)} ms; checkpoints ${st.checkpoint.count}, ` +
    `pages written ${c.pagesWritten} (by write-back ${c.pagesWrittenBack ?? 'n/a'} in ${c.writeBacks ?? 'n/a'}), ` +
    `dirty ${c.dirty}, log ${(st.log.bytes / 1e6).toFixed(0)} MB, evictions ${c.evictions}`,
);
