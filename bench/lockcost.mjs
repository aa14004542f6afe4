// The owner lock's cost per open: acquireOwnerLock + release of two builds, alternating, on a real
// directory of $TMPDIR, with 1 MiB of dirty page cache written before each (as after a copy, when
// an fsync has company). Prints ms per acquire (min / q1 / median / max) per build.
//   node bench/lockcost.mjs --a OLD/dist/index.js [--b NEW/dist/index.js] [--rounds 60]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const here = path.dirname(fileURLToPath(import.meta.url));
const dists = { A: opt('a'), B: opt('b', path.join(here, '../dist/index.js')) };
if (dists.A === undefined) {
  console.error('usage: node bench/lockcost.mjs --a OLD/dist/index.js [--b NEW/dist/index.js] [--rounds 60]');
  process.exit(2);
}
const rounds = Number(opt('rounds', '60'));
const load = async (dist) => {
  const root = path.dirname(path.resolve(dist));
  return { lock: await import(pathToFileURL(path.join(root, 'env/lock.js')).href), vfs: (await import(pathToFileURL(path.join(root, 'io/node.js')).href)).nodeVfs };
};
const builds = { A: await load(dists.A), B: await load(dists.B) };
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-lockcost-'));
const ms = { A: [], B: [] };
try {
  for (let i = 0; i < rounds; i++) {
    for (const name of i % 2 ? ['B', 'A'] : ['A', 'B']) {
      fs.writeFileSync(path.join(dir, 'junk'), Buffer.alloc(1 << 20, i));
      const { lock, vfs } = builds[name];
      const t = performance.now();
      const held = lock.acquireOwnerLock(vfs, dir, { pid: process.pid });
      ms[name].push(performance.now() - t);
      held.release();
    }
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
const f = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  const at = (q) => s[Math.floor((s.length - 1) * q)].toFixed(2);
  return `min ${at(0)} q1 ${at(0.25)} med ${at(0.5)} max ${at(1)} ms`;
};
console.log(`acquireOwnerLock, ${rounds} each, alternating, load ${os.loadavg()[0].toFixed(1)}:  A ${f(ms.A)}  |  B ${f(ms.B)}`);
