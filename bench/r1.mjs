// R1 A/B: catastrophic recovery (`Environment.recover(dir, { catastrophic: true })`) of the
// bench's W1 database by two cairn builds, alternating (A B, then B A, ...), each recovery in a
// fresh Node process (as bench/run.mjs's R1: the worker-thread start, module loading and cold
// code are paid every time) on a fresh, fsynced copy of the database (its files are then in the
// OS page cache, as in run.mjs). Prints per build the wall ms of `recover` (min / q1 / median),
// MB of log per second at the median, and the process's CPU ms (all threads) per recovery.
//
//   node bench/r1.mjs --a /path/to/old/dist/index.js [--b dist/index.js] [--n 1000000] [--rounds 6] [--tail K]
//
// --tail K: the copies hold only the last K log files (as a failover copy taken after the last
// checkpoint: R2's recovery), so that redo touches few pages and the final check reads the data
// file itself.
//
// The W1 database (n entries in key order, 1,000 puts per transaction, seed 42) is built once by
// build B under $TMPDIR/cairn-r1-<n>/base (kept between invocations; --rebuild makes it again).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);

if (args[0] === '--child') {
  // One recovery: --child DIST DIR
  const { Environment } = await import(args[1]);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await Environment.recover(args[2], { catastrophic: true });
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  process.stdout.write(`@@R1 ${JSON.stringify({ ms, cpuMs: (c.user + c.system) / 1000, logBytes: r.logBytes, pagesRedone: r.pagesRedone })}\n`);
  process.exit(0);
}

const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const a = path.resolve(opt('a', ''));
const b = path.resolve(opt('b', path.join(here, '../dist/index.js')));
if (!fs.existsSync(a) || !fs.existsSync(b)) {
  console.error('usage: node bench/r1.mjs --a OLD/dist/index.js [--b NEW/dist/index.js] [--n 1000000] [--rounds 6]');
  process.exit(2);
}
const n = Number(opt('n', '1000000'));
const rounds = Number(opt('rounds', '6'));
const tail = Number(opt('tail', '0'));
const root = path.join(os.tmpdir(), `cairn-r1-${n}`);
const base = path.join(root, 'base');

if (args.includes('--rebuild') || !fs.existsSync(path.join(base, '__cairn.control'))) {
  fs.rmSync(base, { recursive: true, force: true });
  const ctx = { n, seed: 42, batch: 1000, cacheBytes: 64 << 20, base };
  const p = spawnSync(process.execPath, [path.join(here, 'worker.mjs'), 'cairn', 'prep', JSON.stringify(ctx)], {
    env: { ...process.env, CAIRN_DIST: b },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (p.status !== 0) throw new Error(`prep failed: ${p.stdout}`);
}

/** A fresh copy of the base, every file and the directory fsynced. */
function copy(to) {
  fs.rmSync(to, { recursive: true, force: true });
  fs.mkdirSync(to, { recursive: true });
  const logs = fs.readdirSync(base).filter((name) => /^log\.\d+$/.test(name)).sort();
  const dropped = new Set(tail > 0 ? logs.slice(0, -tail) : []);
  for (const name of fs.readdirSync(base)) {
    if (dropped.has(name)) continue;
    const dst = path.join(to, name);
    fs.copyFileSync(path.join(base, name), dst);
    const fd = fs.openSync(dst, 'r+');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
  }
  const fd = fs.openSync(to, 'r');
  fs.fsyncSync(fd);
  fs.closeSync(fd);
}

function once(dist) {
  const dir = path.join(root, 'copy');
  copy(dir);
  const p = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', dist, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = String(p.stdout).split('\n').find((l) => l.startsWith('@@R1 '));
  if (p.status !== 0 || line === undefined) throw new Error(`recovery with ${dist} failed (status ${p.status}): ${p.stdout}`);
  return JSON.parse(line.slice(5));
}

const q = (xs, f) => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(f * (s.length - 1) + 0.5))];
};
const runs = { A: [], B: [] };
console.error(`R1 A/B, ${n} entries${tail > 0 ? `, last ${tail} log files` : ''}, ${rounds} rounds; load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? ['A', 'B'] : ['B', 'A'];
  for (const k of order) {
    const res = once(k === 'A' ? a : b);
    runs[k].push(res);
    console.error(`round ${r + 1} ${k}: ${res.ms.toFixed(0)} ms, cpu ${res.cpuMs.toFixed(0)} ms, ${(res.logBytes / 1e6 / (res.ms / 1000)).toFixed(0)} MB/s, pages redone ${res.pagesRedone}`);
  }
}
const mb = runs.A[0].logBytes / 1e6;
console.log(`R1 A/B, ${n} entries (${mb.toFixed(1)} MB of log${tail > 0 ? `, last ${tail} log files` : ''}), ${rounds} rounds, load at end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log('build | wall ms min / q1 / median | MB/s at median | cpu ms median');
for (const k of ['A', 'B']) {
  const ms = runs[k].map((x) => x.ms);
  console.log(`${k} ${k === 'A' ? a : b} | ${q(ms, 0).toFixed(0)} / ${q(ms, 0.25).toFixed(0)} / ${q(ms, 0.5).toFixed(0)} | ${(mb / (q(ms, 0.5) / 1000)).toFixed(0)} | ${q(runs[k].map((x) => x.cpuMs), 0.5).toFixed(0)}`);
}
const ra = runs.A.map((x) => x.ms);
const rb = runs.B.map((x) => x.ms);
console.log(`B/A: ${(q(rb, 0) / q(ra, 0)).toFixed(2)} / ${(q(rb, 0.25) / q(ra, 0.25)).toFixed(2)} / ${(q(rb, 0.5) / q(ra, 0.5)).toFixed(2)}`);
