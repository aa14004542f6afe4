// Micro-benchmark of the B-tree over the in-memory page store (not a test).
//   npx tsc -p . && node dist/btree/bench.js [count] [pageSize]
import { BTree } from './btree.js';
import { MemStore } from './memstore.js';

const N = Number(process.argv[2] ?? 1_000_000);
const PS = Number(process.argv[3] ?? 4096);

function key(i: number): Buffer {
  const k = Buffer.alloc(16);
  k.write('k', 0);
  k.writeUInt32BE(Math.floor(i / 0x100000000), 8);
  k.writeUInt32BE(i >>> 0, 12);
  return k;
}

function rate(label: string, n: number, ms: number): void {
  console.log(`${label.padEnd(28)} ${(ms / 1000).toFixed(2)} s  ${Math.round((n / ms) * 1000).toLocaleString('en-US')} ops/s`);
}

const keys: Buffer[] = [];
for (let i = 0; i < N; i++) keys.push(key(i));
const value = Buffer.alloc(100, 0x61);
const order = Array.from({ length: N }, (_, i) => i);
let seed = 12345;
for (let i = N - 1; i > 0; i--) {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  const j = seed % (i + 1);
  [order[i], order[j]] = [order[j], order[i]];
}

const w = new MemStore(PS);
const t = new BTree(BTree.create(w), 'none');
let t0 = performance.now();
for (let i = 0; i < N; i++) t.put(w, keys[i], value);
rate(`${N} sequential puts`, N, performance.now() - t0);
console.log(t.stat(w));

const r = w.snapshot();
t0 = performance.now();
let found = 0;
for (let i = 0; i < N; i++) if (t.get(r, keys[order[i]]) !== undefined) found++;
rate(`${N} random gets`, N, performance.now() - t0);
if (found !== N) throw new Error(`found ${found}`);

t0 = performance.now();
let n = 0;
t.scan(r, {}, () => {
  n++;
});
rate(`scan ${n}`, n, performance.now() - t0);

t0 = performance.now();
const c = t.cursor(r);
n = 0;
for (let e = c.first(); e; e = c.next()) n++;
rate(`cursor ${n}`, n, performance.now() - t0);

const w2 = new MemStore(PS);
const t2 = new BTree(BTree.create(w2), 'none');
t0 = performance.now();
for (let i = 0; i < N; i++) t2.put(w2, keys[order[i]], value);
rate(`${N} random puts`, N, performance.now() - t0);
console.log(t2.stat(w2));

t0 = performance.now();
for (let i = 0; i < N; i++) t2.del(w2, keys[order[i]]);
rate(`${N} random dels`, N, performance.now() - t0);
console.log('live pages after deleting all', w2.livePages());
