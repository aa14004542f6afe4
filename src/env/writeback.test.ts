// Write-back (docs/DESIGN.md §Checkpoints): dirty committed pages written between checkpoints so
// that they can leave the cache. A crash taken just before a data page write — after the
// write-back's log flush, with the pages earlier write-backs wrote still unsynced, torn at 128-byte
// sectors — must recover exactly a prefix of the transactions, each wholly (I3), including every
// transaction the log was durable through at the crash (I1: a page reaches its file only after the
// log that made it; I4: a torn page written back is rebuilt from the image its first change after
// the last checkpoint logged, and one written back and changed again from that image and its deltas).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimVfs, type CrashMode } from '../io/sim.js';
import type { FileHandle, OpenOptions, Vfs } from '../io/vfs.js';
import { Environment } from './environment.js';
import type { Database } from './database.js';
import { formatLsn, parseLsn, readLsn } from '../util/lsn.js';
import { PageOffset } from '../page/format.js';
import { rng, randInt, testSeeds } from '../util/random.js';

const HOME = '/env';
const PAGE = 512;
const BUDGET = 64; // pages

/** `inner` with a call to `before` ahead of every write to a data file (`*.db`). */
function beforeDataWrites(inner: SimVfs, before: (pages: Uint8Array) => void): Vfs {
  const open = (p: string, options?: OpenOptions): FileHandle => {
    const fh = inner.open(p, options);
    if (!p.endsWith('.db')) return fh;
    return {
      path: fh.path,
      read: (b, at) => fh.read(b, at),
      write: (b, at) => {
        before(b);
        fh.write(b, at);
      },
      size: () => fh.size(),
      truncate: (n) => fh.truncate(n),
      sync: () => fh.sync(),
      syncAsync: () => fh.syncAsync(),
      close: () => fh.close(),
    };
  };
  return new Proxy(inner, {
    get(target, key) {
      if (key === 'open') return open;
      const v = Reflect.get(target, key) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

const lsnOf = (text: string): number => {
  const l = parseLsn(text);
  assert.ok(l !== undefined, `an LSN: ${text}`);
  return l;
};

for (const seed of testSeeds(3)) {
  test(`a crash before a write-back's page write recovers a prefix of the transactions, every durable one included (seed ${seed})`, async () => {
    const sim = new SimVfs();
    sim.mkdir(HOME, { recursive: true });
    sim.syncDir('/');
    const r = rng(seed);
    const n = 12000;
    const batch = 400;
    const batches = n / batch;
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) { const j = randInt(r, i + 1); [order[i], order[j]] = [order[j]!, order[i]!]; }
    const key = (i: number) => `k${String(i).padStart(8, '0')}`;
    const value = (i: number) => `v${i}-${'x'.repeat(i % 23)}`;
    const batchOf = new Int32Array(n);
    for (let s = 0; s < n; s++) batchOf[order[s]!] = Math.floor(s / batch);

    let env: Environment | undefined;
    /** End of the log after each committed batch. */
    const ends: number[] = [];
    const crashes: Array<{ image: SimVfs; mode: CrashMode; durable: number; during: 'write-back' | 'checkpoint' }> = [];
    let writes = 0;
    let next = 1 + randInt(r, 40);
    let unlogged = '';
    const vfs = beforeDataWrites(sim, (pages) => {
      if (env === undefined) return;
      // I1 at the moment of the write: no page written carries an LSN past the durable log.
      const durable = lsnOf(env.stat().log.durable);
      const buf = Buffer.from(pages.buffer, pages.byteOffset, pages.byteLength);
      for (let at = 0; at + PAGE <= buf.length && unlogged === ''; at += PAGE) {
        const lsn = readLsn(buf, at + PageOffset.lsnFile);
        if (lsn > durable) unlogged = `page ${buf.readUInt32LE(at + PageOffset.pgno)} written with LSN ${formatLsn(lsn)}, the log durable through ${formatLsn(durable)}`;
      }
      if (++writes < next || crashes.length >= 8) return;
      next = writes + 1 + randInt(r, 400);
      const st = env.stat();
      const mode: CrashMode = crashes.length % 2 === 0 ? 'torn' : 'random';
      crashes.push({ image: sim.crash({ seed: seed * 100 + crashes.length, mode, sectorBytes: 128 }), mode, durable: lsnOf(st.log.durable), during: st.checkpoint.running ? 'checkpoint' : 'write-back' });
    });
    // Checkpoints by log volume now and then (their fsyncs and page LSN maps meet write-backs).
    env = await Environment.open(HOME, { create: true, vfs, pageSize: PAGE, cacheSize: BUDGET * PAGE, logFileSize: 1024 * 1024, durability: 'nosync', checkpoint: { kbytes: 1024, minutes: 0 } });
    const db = await env.openDatabase('a.db', { create: true });
    for (let s = 0; s < n; s += batch) {
      const txn = env.begin();
      for (let i = s; i < s + batch; i++) db.put(key(order[i]!), value(order[i]!), txn);
      await txn.commit();
      ends.push(lsnOf(env.stat().log.end));
    }
    assert.equal(unlogged, '', `seed ${seed}: I1`);
    const st = env.stat();
    const filePages = (sim.stat(`${HOME}/a.db`)?.size ?? 0) / PAGE;
    await env.close();
    env = undefined;
    assert.ok(crashes.some((c) => c.during === 'write-back'), `seed ${seed}: no crash fell in a write-back (${crashes.length} crashes, ${writes} data writes)`);
    // Pages written back more often than the file has pages: some were written back, changed again and written back again.
    assert.ok(st.cache.pagesWrittenBack > filePages, `seed ${seed}: ${st.cache.pagesWrittenBack} pages written back, the file has ${filePages}`);

    for (const [c, crash] of crashes.entries()) {
      const what = `seed ${seed}, crash ${c} (${crash.mode}, during a ${crash.during})`;
      const again = await Environment.open(HOME, { vfs: crash.image });
      const present = new Int32Array(batches);
      let dbr: Database | undefined;
      try {
        dbr = await again.openDatabase('a.db');
      } catch {
        dbr = undefined; // the file's creation was not durable: no batch may be present
      }
      for (let i = 0; i < n; i++) {
        const got = dbr?.get(key(i));
        if (got === undefined) continue;
        assert.equal(got.toString(), value(i), `${what}: key ${i}`);
        present[batchOf[i]!]!++;
      }
      await again.close();
      let prefix = 0;
      while (prefix < batches && present[prefix] === batch) prefix++;
      for (let b = prefix; b < batches; b++) assert.equal(present[b], 0, `${what}: batches 0..${prefix - 1} whole, then batch ${b} has ${present[b]} of ${batch} keys (I3)`);
      const durable = ends.filter((e) => e <= crash.durable).length;
      assert.ok(prefix >= durable, `${what}: ${prefix} batches recovered, the log was durable through ${durable} (I1, I2)`);
    }
  });
}
