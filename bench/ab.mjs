// A/B of two cairn builds by CPU time per operation, for a machine too loaded for wall-clock
// rates (load averages of 10–17 on 2 vCPUs were common while this was written). Both builds are
// imported into ONE process and run in alternating short bursts (A B, then B A, ...), each burst
// timed with process.cpuUsage() (user + system of the process), so both see the same machine
// minute by minute and time spent waiting for a CPU is not counted. Contention still inflates
// CPU time (shared caches, SMT): compare the minimum and the lower quartile, which noise can only
// raise, and repeat. Waiting for the disk is not counted: W2/W3 (fsync-bound) need run.mjs.
//
//   node bench/ab.mjs --a /path/to/old/dist/index.js [--b dist/index.js] [--only W1,W1r,W4,W4L] [--rounds 20]
//
// W1 / W1r: 20,000 entries (16-byte keys, 100-byte values) per burst, ascending / seeded random
// order, 1,000 puts per transaction, durability nosync, a fresh environment per burst (the
// environment's open and close are not timed). W4: one environment per build holding 100,000
// entries; each burst is 65,536 synchronous gets of a seeded key pool (warmed once). W4L: W4 at
// the full bench's size, where the data (~125 MB) is twice the 64 MiB cache: 1,000,000 entries
// loaded in key order (as the bench's W1 database), a pool of 262,144 random keys, bursts of
// 65,536 gets; about half the leaf reads miss the cache (disk read, checks, eviction). Prints per
// workload and build: min, lower quartile and median µs of CPU per operation, and B/A of each.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const a = path.resolve(opt('a', ''));
const b = path.resolve(opt('b', path.join(here, '../dist/index.js')));
if (!fs.existsSync(a) || !fs.existsSync(b)) {
  console.error('usage: node bench/ab.mjs --a OLD/dist/index.js [--b NEW/dist/index.js] [--only W1,W1r,W4,W4L] [--rounds N]');
  process.exit(2);
}
const only = opt('only', 'W1,W1r,W4').split(',');
const rounds = Number(opt('rounds', '20'));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-ab-'));

const keyOf = (i) => Buffer.from(String(i).padStart(16, '0'));
function valueOf(i) {
  const v = Buffer.allocUnsafe(100);
  let x = (i * 2654435761) >>> 0 || 1;
  for (let j = 0; j < 100; j++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    v[j] = x & 0xff;
  }
  return v;
}
function lcg(seed) {
  let x = seed >>> 0;
  return (n) => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x % n;
  };
}
function order(n, random) {
  const o = Array.from({ length: n }, (_, i) => i);
  if (random) {
    const r = lcg(7);
    for (let i = n - 1; i > 0; i--) {
      const j = r(i + 1);
      [o[i], o[j]] = [o[j], o[i]];
    }
  }
  return o;
}
const cpu = () => {
  const u = process.cpuUsage();
  return u.user + u.system; // µs
};

async function load(cairn, dir, keys, values) {
  const env = await cairn.Environment.open(dir, { create: true, durability: 'nosync', cacheSize: 64 << 20 });
  const db = await env.openDatabase('bench.db', { create: true });
  const t = cpu();
  for (let s = 0; s < keys.length; s += 1000) {
    const txn = env.begin({ durability: 'nosync' });
    for (let i = s; i < Math.min(s + 1000, keys.length); i++) db.put(keys[i], values[i], txn);
    await txn.commit();
  }
  return { env, db, us: cpu() - t };
}

/** n entries in key order, 1,000 per transaction, made batch by batch (not all held at once). */
async function loadInOrder(cairn, dir, n) {
  const env = await cairn.Environment.open(dir, { create: true, durability: 'nosync', cacheSize: 64 << 20 });
  const db = await env.openDatabase('bench.db', { create: true });
  for (let s = 0; s < n; s += 1000) {
    const txn = env.begin({ durability: 'nosync' });
    for (let i = s; i < Math.min(s + 1000, n); i++) db.put(keyOf(i), valueOf(i), txn);
    await txn.commit();
  }
  await env.close(); // reopened with a cold cache, as the bench opens a copy of its W1 database
  const env2 = await cairn.Environment.open(dir, { durability: 'nosync', cacheSize: 64 << 20 });
  return { env: env2, db: await env2.openDatabase('bench.db') };
}

const builds = [
  { name: 'A', path: a, cairn: await import(a), t: [] },
  { name: 'B', path: b, cairn: await import(b), t: [] },
];
const stats = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return { min: s[0], q1: s[Math.floor((s.length - 1) / 4)], med: s[Math.floor((s.length - 1) / 2)] };
};

try {
  for (const w of only) {
    for (const B of builds) B.t = [];
    if (w === 'W1' || w === 'W1r') {
      const o = order(20000, w === 'W1r');
      const keys = o.map(keyOf);
      const values = o.map(valueOf);
      for (let r = 0; r < rounds; r++) {
        for (const B of r % 2 ? [...builds].reverse() : builds) {
          const dir = path.join(tmp, `${w}-${B.name}`);
          fs.rmSync(dir, { recursive: true, force: true });
          const { env, us } = await load(B.cairn, dir, keys, values);
          B.t.push(us / keys.length);
          await env.close();
        }
      }
    } else if (w === 'W4' || w === 'W4L') {
      const n = w === 'W4' ? 100000 : 1000000;
      const r = lcg(42);
      const pool = Array.from({ length: w === 'W4' ? 65536 : 262144 }, () => keyOf(r(n)));
      const burst = 65536;
      const open = [];
      for (const B of builds) {
        const { env, db } = await loadInOrder(B.cairn, path.join(tmp, `${w}-${B.name}`), n);
        for (const k of pool) if (db.get(k) === undefined) throw new Error('W4: key not found');
        open.push(env);
        B.db = db;
      }
      for (let rr = 0; rr < rounds; rr++) {
        for (const B of rr % 2 ? [...builds].reverse() : builds) {
          const db = B.db;
          const from = rr * burst;
          const t = cpu();
          for (let j = 0; j < burst; j++) db.get(pool[(from + j) % pool.length]);
          B.t.push((cpu() - t) / burst);
        }
      }
      for (const env of open) await env.close();
    } else throw new Error(`unknown workload ${w} (W1, W1r, W4, W4L)`);
    const [sa, sb] = builds.map((B) => stats(B.t));
    const f = (s) => `min ${s.min.toFixed(2)}  q1 ${s.q1.toFixed(2)}  med ${s.med.toFixed(2)}`;
    console.log(`${w} µs CPU/op (${rounds} bursts each)  A: ${f(sa)}  B: ${f(sb)}  B/A: min ${(sb.min / sa.min).toFixed(2)} q1 ${(sb.q1 / sa.q1).toFixed(2)} med ${(sb.med / sa.med).toFixed(2)}`);
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
