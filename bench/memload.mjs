// W1r's memory (docs/PERFORMANCE.md, back-pressure): a bulk load of N entries (argument, default 1M) in
// random key order, 1,000 puts per relaxed transaction, 64 MiB cache; prints the load time, the
// peak RSS and, at the sample with the highest RSS, the heap, ArrayBuffers, cached and dirty pages;
// then the checkpoints, MiB of log, pages written and write-backs of the load.
// CAIRN_DIST=/path/to/dist/index.js measures another build.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
const dist = process.env.CAIRN_DIST ?? new URL('../dist/index.js', import.meta.url).pathname;
const { Environment } = await import(dist);
const N = Number(process.argv[2] ?? 1000000);
const dir = path.join(os.tmpdir(), 'cairn-memload-' + process.pid);
fs.rmSync(dir, { recursive: true, force: true });
const env = await Environment.open(dir, { create: true, durability: 'nosync', cacheSize: 64 << 20 });
const db = await env.openDatabase('bench.db', { create: true });
let s = 42 >>> 0;
const rnd = () => { s = (s * 1664525 + 1013904223) >>> 0; return s; };
const keys = new Uint32Array(N); for (let i = 0; i < N; i++) keys[i] = i;
for (let i = N - 1; i > 0; i--) { const j = rnd() % (i + 1); const t = keys[i]; keys[i] = keys[j]; keys[j] = t; }
const val = Buffer.alloc(100, 7);
let max = { rss: 0 };
const sample = (i) => { const m = process.memoryUsage(); if (m.rss > max.rss) max = { i, rss: m.rss >> 20, heapUsed: m.heapUsed >> 20, heapTotal: m.heapTotal >> 20, external: m.external >> 20, ab: m.arrayBuffers >> 20, cached: env.pager.cached, dirty: env.pager.dirtyCount }; };
const t0 = Date.now();
for (let i = 0; i < N; i += 1000) {
  const txn = env.begin({ durability: 'nosync' });
  for (let j = i; j < i + 1000; j++) { const k = Buffer.alloc(16); k.writeUInt32BE(keys[j], 12); db.put(k, val, txn); }
  await txn.commit();
  if ((i / 1000) % 10 === 0) sample(i);
}
await env.flushLog?.();
const st = env.stat();
console.log(JSON.stringify({ ms: Date.now() - t0, max, maxRSS: process.resourceUsage().maxRSS >> 10, checkpoints: st.checkpoint.count, logMiB: Math.round(st.log.bytes / 2 ** 20), pagesWritten: st.cache.pagesWritten, writeBacks: st.cache.writeBacks }));
await env.close();
fs.rmSync(dir, { recursive: true, force: true });
