// The cost of the page LSN map (docs/PERFORMANCE.md): on a database of N entries (argument, default 1M),
// time the map's encode and its atomic write, a checkpoint, and the per-read LSN check.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
const dist = process.env.CAIRN_DIST ?? new URL('../dist/index.js', import.meta.url).pathname;
const { Environment } = await import(dist);
const { writePageMap } = await import(path.join(path.dirname(dist), 'page/lsnmap.js'));
const { nodeVfs } = await import(path.join(path.dirname(dist), 'io/node.js'));
const N = Number(process.argv[2] ?? 1_000_000);
const dir = path.join(os.tmpdir(), `cairn-mapcost-${process.pid}`);
fs.rmSync(dir, { recursive: true, force: true });
const env = await Environment.open(dir, { create: true, durability: 'nosync', cacheSize: 64 << 20 });
const db = await env.openDatabase('bench.db', { create: true });
const val = Buffer.alloc(100, 7);
for (let i = 0; i < N; i += 1000) {
  const txn = env.begin({ durability: 'nosync' });
  for (let j = i; j < i + 1000 && j < N; j++) db.put(Buffer.from(String(j).padStart(16, '0')), val, txn);
  await txn.commit();
}
await env.checkpoint();
const pager = env.pager;
let pages = 0;
for (const f of pager.files.values()) pages += Math.ceil((f.handle?.size() ?? 0) / f.pageSize);
const t0 = performance.now();
const enc = pager.lsns.encode(env.envId, 1);
const t1 = performance.now();
const reps = 10;
for (let i = 0; i < reps; i++) writePageMap(nodeVfs, dir, pager.lsns, env.envId, env.control.pageMap);
const t2 = performance.now();
// checkpoint after 1,000 random updates (what a checkpoint usually follows)
const ck = [];
for (let r = 0; r < 5; r++) {
  const txn = env.begin({ durability: 'nosync' });
  for (let j = 0; j < 1000; j++) db.put(Buffer.from(String((j * 7919 + r * 104729) % N).padStart(16, '0')), val, txn);
  await txn.commit();
  const c0 = performance.now();
  await env.checkpoint();
  ck.push(performance.now() - c0);
}
// the per-read check: checkLsn on every page of the file (what each load from disk adds)
const file = [...pager.files.values()].find((f) => f.name === 'bench.db');
const bufs = [];
for (let p = 1; p < Math.min(pages, 20000); p++) bufs.push([p, pager.readFromDisk(file, p)]);
const c0 = performance.now();
let bad = 0;
for (let k = 0; k < 20; k++) for (const [p, b] of bufs) if (pager.checkLsn(file, p, b) !== undefined) bad++;
const perCheck = ((performance.now() - c0) * 1e6) / (20 * bufs.length);
const r0 = performance.now();
for (const [p] of bufs.slice(0, 5000)) pager.readFromDisk(file, p);
const perRead = ((performance.now() - r0) * 1e6) / 5000;
console.log(JSON.stringify({ entries: N, pages, mapBytes: enc.length, encodeMs: +(t1 - t0).toFixed(2), writeMapMs: +((t2 - t1) / reps).toFixed(2), checkpointMs: ck.map((x) => +x.toFixed(1)), checkLsnNs: +perCheck.toFixed(0), preadNs: +perRead.toFixed(0), staleFound: bad }));
await env.close();
fs.rmSync(dir, { recursive: true, force: true });
