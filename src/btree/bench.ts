// Micro-benchmark of the B-tree over the in-memory page store (not a test).
//   npx tsc -p . && node dist/btree/bench.js [count] [pageSize]
import { BTree } from './btree.js';
import { MemStore } from './memstore.js';

const N = Number(process.argv[2] ?? 1_000_000);
const PS = Number(process.argv[3] ?? 4096);

// 16-byte zero-padded decimal keys, as in bench/ (byte order = numeric order).
function key(i: number): Buffer {
  return Buffer.from(String(i).padStart(16, '0'));
}

// Wall time and this process's CPU time (the VM is shared: CPU time is the steadier number).
let cpu0 = process.cpuUsage();
let t0 = performance.now();
function start(): void {
  cpu0 = process.cpuUsage();
  t0 = performance.now();
}
function rate(label: string, n: number): void {
  const ms = performance.now() - t0;
  const c = process.cpuUsage(cpu0);
  const cpuMs = (c.user + c.system) / 1000;
  console.log(
    `${label.padEnd(28)} wall ${(ms / 1000).toFixed(2)} s ${Math.round((n / ms) * 1000).toLocaleString('en-US').padStart(11)} ops/s` +
      `   cpu ${(cpuMs / 1000).toFixed(2)} s ${Math.round((n / cpuMs) * 1000).toLocaleString('en-US').padStart(11)} ops/s`,
  );
}

const keys: Buffer[] = [];
for (let i = 0; i < N; i++) keys.push(key(i));
void key;
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
start();
for (let i = 0; i < N; i++) t.put(w, keys[i], value);
rate(`${N} sequential puts`, N);
console.log(t.stat(w));

const r = w.snapshot();
start();
let found = 0;
for (let i = 0; i < N; i++) if (t.get(r, keys[order[i]]) !== undefined) found++;
rate(`${N} random gets`, N);
if (found !== N) throw new Error(`found ${found}`);

start();
let n = 0;
t.scan(r, {}, () => {
  n++;
});
rate(`scan ${n}`, n);

start();
const c = t.cursor(r);
n = 0;
for (let e = c.first(); e; e = c.next()) n++;
rate(`cursor ${n}`, n);

const w2 = new MemStore(PS);
const t2 = new BTree(BTree.create(w2), 'none');
start();
for (let i = 0; i < N; i++) t2.put(w2, keys[order[i]], value);
rate(`${N} random puts`, N);
console.log(t2.stat(w2));

start();
for (let i = 0; i < N; i++) t2.del(w2, keys[order[i]]);
rate(`${N} random dels`, N);
console.log('live pages after deleting all', w2.livePages());
