// A/B of two cairn builds by CPU time per operation, for a machine too loaded for wall-clock
// rates (load averages of 10–17 on 2 vCPUs were common while this was written). Both builds are
// imported into ONE process and run in alternating short bursts (A B, then B A, ...), each burst
// timed with process.cpuUsage() (user + system of the process), so both see the same machine
// minute by minute and time spent waiting for a CPU is not counted. Contention still inflates
// CPU time (shared caches, SMT): compare the minimum and the lower quartile, which noise can only
// raise, and repeat. Waiting for the disk is not counted: W2/W3 (fsync-bound) need run.mjs.
//
//   node bench/ab.mjs --a /path/to/old/dist/index.js [--b dist/index.js] [--only W1,W1r,W1L,W1rL,W4,W4L] [--rounds 20]
//   node bench/ab.mjs --a OLD/dist/index.js --only C1,C1s,C64 --rounds 40 --dir /dev/shm   # CPU per commit
//
// --dir: where the environments go (default the OS temp directory); C1/C1w/C1s/C64 (CPU per
// W2-style commit, see commits() below) are meant for a tmpfs, so that no disk is in the loop.
//
// W1 / W1r: 20,000 entries (16-byte keys, 100-byte values) per burst, ascending / seeded random
// order, 1,000 puts per transaction, durability nosync, a fresh environment per burst (the
// environment's open and close are not timed). W1L / W1rL: the same with 200,000 / 100,000
// entries per burst, timed by the WALL clock and including the final env.flushLog(), so that log
// file switches (one per 10 MiB of log: about 2 per W1L burst, the first made in place) and checkpoints are in the
// bursts, and time the main thread spends blocked in them counts; W1ML: W1L with 1,000,000 entries
// (~25 switches per burst, as the bench's W1). The W1…L lines also print the main-thread ms per burst
// in the log writer's switchFile (and time blocked waiting for a switch running in the background). W1rC: W1r's CPU per put where the
// tree outgrows the cache as W1r's does at 1M in 64 MiB: 200,000 random entries, a 12 MiB cache
// (~10,000 leaf pages against 3,072), so dirty pages must be written and evicted during the load. W4: one environment per build holding 100,000
// entries; each burst is 65,536 synchronous gets of a seeded key pool (warmed once). W4L: W4 at
// the full bench's size, where the data (~125 MB) is twice the 64 MiB cache: 1,000,000 entries
// loaded in key order (as the bench's W1 database), a pool of 262,144 random keys, bursts of
// 65,536 gets; about half the leaf reads miss the cache (disk read, checks, eviction). W4M: W4 with
// 300,000 entries; W5M: bursts of one full ordered scan (db.range({})) of 300,000 entries. Prints per
// workload and build: min, lower quartile and median µs of CPU per operation, and B/A of each.
//
// W2 / W3 (durable commits, fsync-bound) are timed by the WALL clock instead, since their cost is
// mostly waiting for the disk: one environment per build (durability sync, opened once), each
// burst commits for --ms milliseconds (default 300): W2 one awaited
// `env.transaction(async (txn) => db.put(k, v, txn))` at a time, W3 the same from 64 concurrent
// writers. Every round also runs a burst of the raw floor (4 KiB overwrite of a preallocated file
// + fdatasync, as bench/run.mjs's W2 rotation), the three in rotating order; the report gives wall
// µs per commit (min / q1 / median), CPU µs per commit (median), and per build the median over
// rounds of (raw µs ÷ build µs) = the build's rate as a share of the raw rate in the same round.

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
const burstMs = Number(opt('ms', '300'));
const rounds = Number(opt('rounds', '20'));
const tmp = fs.mkdtempSync(path.join(opt('dir', os.tmpdir()), 'cairn-ab-'));

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

/**
 * Times the log writer's switchFile (main thread) on the writer's prototype, once per build: the
 * W1L/W1rL lines then print the main-thread ms spent in file switches per burst (and, for a build
 * whose writer counts it, `waitMs`: time blocked waiting for a switch running in the background).
 */
function timeSwitches(env) {
  const w = env.writer;
  const proto = w && Object.getPrototypeOf(w);
  if (!proto || typeof proto.switchFile !== 'function' || proto.__abTimed) return;
  const orig = proto.switchFile;
  proto.switchFile = function (...args) {
    const t = performance.now();
    try {
      return orig.apply(this, args);
    } finally {
      this.__abSwitchMs = (this.__abSwitchMs ?? 0) + performance.now() - t;
    }
  };
  proto.__abTimed = true;
}
const switchInfo = (env) => {
  const w = env.writer;
  return { ms: w?.__abSwitchMs ?? 0, waitMs: w?.stats?.waitMs, files: w?.stats?.files ?? 0 };
};

async function load(cairn, dir, keys, values, clock = cpu, cacheSize = 64 << 20) {
  const env = await cairn.Environment.open(dir, { create: true, durability: 'nosync', cacheSize });
  timeSwitches(env);
  const db = await env.openDatabase('bench.db', { create: true });
  const t = clock();
  for (let s = 0; s < keys.length; s += 1000) {
    const txn = env.begin({ durability: 'nosync' });
    for (let i = s; i < Math.min(s + 1000, keys.length); i++) db.put(keys[i], values[i], txn);
    await txn.commit();
  }
  if (clock !== cpu) await env.flushLog(); // as the bench's W1: the one sync at the end is timed
  return { env, db, us: clock() - t };
}
const wallUs = () => performance.now() * 1000;

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

/** W2/W3: wall-clock bursts of durable commits, with the raw fdatasync floor in every round. */
async function durable(w) {
  const writers = w === 'W3' ? 64 : 1;
  const fd = fs.openSync(path.join(tmp, 'raw.dat'), 'w+');
  const page = Buffer.alloc(4096, 0x5a);
  for (let i = 0; i < 256; i++) fs.writeSync(fd, page, 0, 4096, i * 4096);
  fs.fsyncSync(fd);
  let rawCount = 0;
  const raw = {
    name: 'raw',
    async burst(until) {
      let c = 0;
      while (performance.now() < until) {
        page[0] = rawCount;
        fs.writeSync(fd, page, 0, 4096, (rawCount++ % 256) * 4096);
        fs.fdatasyncSync(fd);
        c++;
      }
      return c;
    },
  };
  const runners = [raw];
  let seq = 0;
  for (const B of builds) {
    const env = await B.cairn.Environment.open(path.join(tmp, `${w}-${B.name}`), { create: true, durability: 'sync', cacheSize: 64 << 20 });
    const db = await env.openDatabase('bench.db', { create: true });
    const r = lcg(w === 'W3' ? 3 : 2);
    const one = () => {
      const i = r(1_000_000);
      const v = valueOf(i + seq++);
      return env.transaction(async (txn) => {
        db.put(keyOf(i), v, txn);
      });
    };
    for (let i = 0; i < 20; i++) await one();
    runners.push({
      name: B.name,
      env,
      async burst(until) {
        let c = 0;
        const writer = async () => {
          while (performance.now() < until) {
            await one();
            c++;
          }
        };
        await Promise.all(Array.from({ length: writers }, writer));
        return c;
      },
    });
  }
  const wall = new Map(runners.map((x) => [x.name, []]));
  const cpus = new Map(runners.map((x) => [x.name, []]));
  const share = new Map(runners.map((x) => [x.name, []]));
  for (let rr = 0; rr < rounds; rr++) {
    const order = runners.map((_, i) => runners[(i + rr) % runners.length]);
    const got = new Map();
    for (const x of order) {
      const c0 = cpu();
      const t0 = performance.now();
      const c = await x.burst(t0 + burstMs);
      const us = ((performance.now() - t0) * 1000) / c;
      got.set(x.name, us);
      wall.get(x.name).push(us);
      cpus.get(x.name).push((cpu() - c0) / c);
    }
    for (const x of runners) share.get(x.name).push(got.get('raw') / got.get(x.name));
  }
  fs.closeSync(fd);
  for (const x of runners) await x.env?.close();
  const f = (s) => `min ${s.min.toFixed(0)}  q1 ${s.q1.toFixed(0)}  med ${s.med.toFixed(0)}`;
  console.log(`${w} wall µs/commit (${rounds} bursts of ${burstMs} ms each, ${writers} writer${writers > 1 ? 's' : ''}), load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  for (const x of runners) {
    const sh = stats(share.get(x.name)).med;
    console.log(`  ${x.name.padEnd(3)}  wall ${f(stats(wall.get(x.name)))}  cpu med ${stats(cpus.get(x.name)).med.toFixed(1)}  ${x.name === 'raw' ? '' : `rate ÷ raw (median of rounds) ${sh.toFixed(2)}  ÷ A ${(stats(wall.get('A')).med / stats(wall.get(x.name)).med).toFixed(2)}`}`);
  }
}

/**
 * C1 / C1w / C1s / C64: CPU per commit of W2's transaction (`env.transaction(async (txn) =>
 * db.put(k, v, txn))`, random keys of 1,000,000, 100-byte values) — C1 durability nosync, C1w
 * write-nosync, C1s sync, C64 sync from 64 concurrent writers (W3). Use --dir /dev/shm so that
 * fdatasync costs no disk wait: this times the software path of a commit. One environment per
 * build, opened once and warmed with 20,000 commits; bursts of 4,000 commits.
 */
async function commits(w) {
  const durability = w === 'C1' ? 'nosync' : w === 'C1w' ? 'write-nosync' : 'sync';
  const writers = w === 'C64' ? 64 : 1;
  const n = 4000;
  let seq = 0;
  for (const B of builds) {
    const env = await B.cairn.Environment.open(path.join(tmp, `${w}-${B.name}`), { create: true, durability, cacheSize: 64 << 20 });
    const db = await env.openDatabase('bench.db', { create: true });
    const r = lcg(5);
    B.env = env;
    B.run = async (count) => {
      let left = count;
      const writer = async () => {
        while (left-- > 0) {
          const i = r(1_000_000);
          const v = valueOf(i + seq++);
          await env.transaction(async (txn) => {
            db.put(keyOf(i), v, txn);
          });
        }
      };
      await Promise.all(Array.from({ length: writers }, writer));
    };
    await B.run(20000);
  }
  for (let rr = 0; rr < rounds; rr++) {
    for (const B of rr % 2 ? [...builds].reverse() : builds) {
      const t = cpu();
      await B.run(n);
      B.t.push((cpu() - t) / n);
    }
  }
  for (const B of builds) await B.env.close();
}

try {
  for (const w of only) {
    for (const B of builds) {
      B.t = [];
      B.sw = [];
    }
    if (w === 'W1' || w === 'W1r' || w === 'W1L' || w === 'W1rL' || w === 'W1ML' || w === 'W1rC') {
      const big = w.endsWith('L');
      const random = w.startsWith('W1r');
      const o = order(w === 'W1ML' ? 1000000 : w === 'W1rC' ? 200000 : big ? (random ? 100000 : 200000) : 20000, random);
      const keys = o.map(keyOf);
      const values = o.map(valueOf);
      for (let r = 0; r < rounds; r++) {
        for (const B of r % 2 ? [...builds].reverse() : builds) {
          const dir = path.join(tmp, `${w}-${B.name}`);
          fs.rmSync(dir, { recursive: true, force: true });
          const { env, us } = await load(B.cairn, dir, keys, values, big ? wallUs : cpu, w === 'W1rC' ? 12 << 20 : 64 << 20);
          B.t.push(us / keys.length);
          (B.sw ??= []).push(switchInfo(env));
          await env.close();
        }
      }
    } else if (w === 'W5M') {
      // W5 at 300,000 entries: each burst is one full ordered scan (db.range({})), CPU µs per entry.
      const n = 300000;
      const open = [];
      for (const B of builds) {
        const { env, db } = await loadInOrder(B.cairn, path.join(tmp, `${w}-${B.name}`), n);
        open.push(env);
        B.db = db;
      }
      for (let rr = 0; rr < rounds; rr++) {
        for (const B of rr % 2 ? [...builds].reverse() : builds) {
          const t = cpu();
          let seen = 0;
          for (const [k] of B.db.range({})) seen += k.length > 0 ? 1 : 0;
          if (seen !== n) throw new Error(`W5M: scanned ${seen} of ${n}`);
          B.t.push((cpu() - t) / n);
        }
      }
      for (const env of open) await env.close();
    } else if (w === 'W4' || w === 'W4L' || w === 'W4M') {
      const n = w === 'W4' ? 100000 : w === 'W4M' ? 300000 : 1000000;
      const r = lcg(42);
      const pool = Array.from({ length: w === 'W4L' ? 262144 : 65536 }, () => keyOf(r(n)));
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
    } else if (w === 'C1' || w === 'C1w' || w === 'C1s' || w === 'C64') {
      await commits(w);
    } else if (w === 'W2' || w === 'W3') {
      await durable(w);
      continue;
    } else throw new Error(`unknown workload ${w} (W1, W1r, W1L, W1rL, W1ML, W1rC, W2, W3, W4, W4L, W4M, W5M, C1, C1w, C1s, C64)`);
    const [sa, sb] = builds.map((B) => stats(B.t));
    const f = (s) => `min ${s.min.toFixed(2)}  q1 ${s.q1.toFixed(2)}  med ${s.med.toFixed(2)}`;
    if (w.startsWith('W1') && w.endsWith('L')) {
      for (const B of builds) {
        const sw = B.sw ?? [];
        const ms = stats(sw.map((x) => x.ms));
        const wait = sw.every((x) => x.waitMs !== undefined) ? stats(sw.map((x) => x.waitMs)) : undefined;
        console.log(`${w} ${B.name}: main-thread ms in switchFile per burst min ${ms.min.toFixed(1)} q1 ${ms.q1.toFixed(1)} med ${ms.med.toFixed(1)}` + (wait ? `; blocked waiting for a background switch min ${wait.min.toFixed(1)} q1 ${wait.q1.toFixed(1)} med ${wait.med.toFixed(1)}` : '') + ` (${sw[0]?.files ?? 0} switches per burst)`);
      }
    }
    console.log(`${w} µs ${w.endsWith('L') && w.startsWith('W1') ? 'wall' : 'CPU'}/op (${rounds} bursts each, load ${os.loadavg()[0].toFixed(1)})  A: ${f(sa)}  B: ${f(sb)}  B/A: min ${(sb.min / sa.min).toFixed(2)} q1 ${(sb.q1 / sa.q1).toFixed(2)} med ${(sb.med / sa.med).toFixed(2)}`);
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
