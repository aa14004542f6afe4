// The owned page arena (docs/DESIGN.md §Page arena): the pager hands out spare page buffers for
// private copies, new pages and loads, and a buffer becomes a spare only when provably
// unreferenced — the version an install replaces while no snapshot is open and no checkpoint or
// write-back list is held, an aborted or rebased transaction's private pages, a page evicted
// between operations with no snapshot open. With `arenaCheck.on` (CAIRN_CHECKS=arena) such a
// buffer is poisoned instead and never reused. The last tests run seeded random workloads
// (snapshots, cursors, aborts, rebases, checkpoints, write-backs, a cache of a few pages) against
// a model, with and without poisoning; `arena-ignore-snapshots` (recycling under open snapshots)
// is caught by the deterministic snapshot test. Seeded: CAIRN_SEED replays.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimVfs } from '../io/sim.js';
import { DataFile, FilePages, POISON, Pager, arenaCheck, initPageHeader } from './pager.js';
import { PageOffset, type PageType } from './format.js';
import { MetaOffset } from './meta.js';
import { Environment } from '../env/environment.js';
import type { Database, DbCursor } from '../env/database.js';
import type { Transaction } from '../txn/txn.js';
import { randBytes, randInt, rng, testSeeds } from '../util/random.js';

const PAGE = 512;

function setup(cachePages = 64): { pager: Pager; file: DataFile } {
  const vfs = new SimVfs();
  vfs.mkdir('/d', { recursive: true });
  const pager = new Pager(vfs, { cacheSize: cachePages * PAGE });
  const file = new DataFile('f.db', '/d/f.db', 7, PAGE);
  pager.addFile(file);
  for (let pgno = 0; pgno < 16; pgno++) {
    const buf = Buffer.alloc(PAGE, pgno);
    initPageHeader(buf, pgno, file.uid, 0); // type 0: raw bytes, no B-tree structure for the load check (btree/pagecheck.ts)
    pager.writePage(file, pgno, buf);
  }
  return { pager, file };
}

/** A commit of one page as the environment makes it: a private copy, the snapshot released, the install. */
function commitPage(pager: Pager, file: DataFile, pgno: number, fill: number): Buffer {
  const seq = pager.openSnapshot();
  const fp = new FilePages(pager, file, seq);
  const buf = fp.writable(pgno);
  buf.fill(fill, 64);
  pager.releaseSnapshot(seq);
  pager.install(file, pgno, buf, ++pager.seq, false);
  return buf;
}

/** Runs fn with the poison mode set to `on`, restoring it after. */
async function withCheck<T>(on: boolean, fn: () => T | Promise<T>): Promise<T> {
  const was = arenaCheck.on;
  arenaCheck.on = on;
  try {
    return await fn();
  } finally {
    arenaCheck.on = was;
  }
}

test('the version an install replaces becomes the next private copy when no snapshot is open', async () => {
  await withCheck(false, () => {
    const { pager, file } = setup();
    const first = pager.read(file, 5, Infinity);
    commitPage(pager, file, 5, 0x11);
    const second = commitPage(pager, file, 5, 0x22);
    assert.equal(second, first, 'the replaced buffer was reused for the next copy');
    assert.equal(pager.stats.sparesReused, 1);
    assert.equal(pager.read(file, 5, Infinity)[100], 0x22);
    // The copy is the whole committed version: every byte equal before the change.
    const third = new FilePages(pager, file, pager.seq).writable(5);
    assert.ok(third.equals(pager.read(file, 5, Infinity)));
  });
});

test('a version an open snapshot may read is never reused; after the snapshot closes, later replaced versions are', async () => {
  await withCheck(false, () => {
    const { pager, file } = setup();
    const snap = pager.openSnapshot();
    const old = pager.read(file, 5, snap);
    const oldBytes = Buffer.from(old);
    for (let i = 0; i < 10; i++) commitPage(pager, file, 5, 0x30 + i);
    for (let i = 0; i < 10; i++) commitPage(pager, file, 6, 0x50 + i);
    assert.equal(pager.stats.sparesReused, 0, 'nothing recycled while a snapshot is open');
    assert.equal(pager.read(file, 5, snap), old);
    assert.ok(old.equals(oldBytes), 'the snapshot still reads its version');
    pager.releaseSnapshot(snap);
    commitPage(pager, file, 5, 0x70);
    assert.equal(pager.stats.sparesReused, 1, 'the history the snapshot kept became spares');
  });
});

test('a version leaves the history for the spares only when no open snapshot reads it (poisoned here)', async () => {
  await withCheck(true, () => {
    const { pager, file } = setup();
    const s1 = pager.openSnapshot();
    const v0 = pager.read(file, 5, s1);
    commitPage(pager, file, 5, 0x61);
    const s2 = pager.openSnapshot();
    const v1 = pager.read(file, 5, s2);
    commitPage(pager, file, 5, 0x62);
    const s3 = pager.openSnapshot();
    const v2 = pager.read(file, 5, s3);
    commitPage(pager, file, 5, 0x63);
    pager.releaseSnapshot(s2); // v1 is read by no open snapshot now; the history is pruned from its oldest end only
    assert.equal(pager.read(file, 5, s1), v0);
    assert.equal(v0[100], 5, 's1 still reads v0');
    assert.equal(pager.read(file, 5, s3)[100], 0x62, 's3 still reads v2');
    pager.releaseSnapshot(s1);
    assert.ok(v0.every((b) => b === POISON), 'v0 poisoned once s1 is released');
    assert.ok(v1.every((b) => b === POISON), 'v1 too');
    assert.equal(v2[100], 0x62, 'v2 kept for s3');
    assert.equal(pager.read(file, 5, s3), v2);
    pager.releaseSnapshot(s3);
    assert.ok(v2.every((b) => b === POISON), 'v2 poisoned once s3 is released');
    assert.equal(pager.read(file, 5, Infinity)[100], 0x63);
  });
});

test('no buffer of a held checkpoint or write-back list is recycled; other replaced versions are', async () => {
  await withCheck(false, () => {
    const { pager, file } = setup();
    commitPage(pager, file, 5, 0x11);
    commitPage(pager, file, 6, 0x12);
    const list = pager.collectWriteBack(100);
    const letGo = pager.hold(list);
    const listed = list.find((d) => d.pgno === 5)!.buf;
    const bytes = Buffer.from(listed);
    const before = pager.stats.sparesReused;
    const copies: Buffer[] = [];
    for (let i = 0; i < 5; i++) copies.push(commitPage(pager, file, 5, 0x20 + i));
    assert.ok(!copies.includes(listed), 'the listed buffer was not handed out');
    assert.ok(listed.equals(bytes), 'the listed buffer is unchanged');
    assert.ok(pager.stats.sparesReused - before >= 3, 'versions replaced after the list was taken were recycled');
    letGo();
    letGo(); // idempotent: one hold, one release
    const next = pager.read(file, 6, Infinity); // listed too; replaced once the list is let go
    const after = commitPage(pager, file, 6, 0x40);
    assert.equal(commitPage(pager, file, 6, 0x41), next, 'recycled once the list is let go');
    assert.notEqual(after, next);
  });
});

test('a new or freed page made from a spare is all zeros past its header (no stale bytes reach the log)', async () => {
  await withCheck(false, () => {
    const { pager, file } = setup();
    // Private pages full of 0xff, discarded (as an abort does): spares with stale bytes.
    const junk = new FilePages(pager, file, pager.seq);
    for (let pgno = 7; pgno < 11; pgno++) junk.writable(pgno).fill(0xff);
    junk.discard();
    const fp = new FilePages(pager, file, pager.seq);
    const meta = fp.writable(0);
    meta.writeUInt32LE(16, MetaOffset.pageCount);
    meta.writeUInt32LE(0, MetaOffset.freeHead);
    const before = pager.stats.sparesReused;
    const { pgno, buf } = fp.allocate(3 as PageType);
    fp.free(9);
    const freed = fp.changed.get(9)!;
    assert.equal(pager.stats.sparesReused - before, 2, 'both made from spares');
    const fresh = Buffer.alloc(PAGE);
    initPageHeader(fresh, pgno, file.uid, 3 as PageType);
    assert.ok(buf.equals(fresh), 'allocated page: its header, zeros elsewhere');
    initPageHeader(fresh, 9, file.uid, 0 as PageType);
    fresh.writeUInt32LE(0, PageOffset.next);
    assert.ok(freed.equals(fresh), 'freed page: its header, zeros elsewhere');
  });
});

test('CAIRN_CHECKS=arena: a buffer that would be recycled is poisoned and never reused', async () => {
  await withCheck(true, () => {
    const { pager, file } = setup();
    const before = arenaCheck.poisoned;
    const first = pager.read(file, 5, Infinity);
    commitPage(pager, file, 5, 0x11);
    const second = commitPage(pager, file, 5, 0x22);
    assert.notEqual(second, first);
    assert.equal(pager.stats.sparesReused, 0);
    assert.ok(arenaCheck.poisoned >= before + 2);
    assert.ok(first.every((b) => b === POISON), 'the replaced version is poison');
  });
});

// ---- through the environment ---------------------------------------------------------------------

const HOME = '/env';
const keyOf = (i: number): Buffer => Buffer.from(String(i).padStart(6, '0'));

async function openEnv(cachePages: number): Promise<{ env: Environment; db: Database }> {
  const vfs = new SimVfs();
  vfs.mkdir(HOME, { recursive: true });
  vfs.syncDir('/');
  const env = await Environment.open(HOME, { create: true, vfs, cacheSize: cachePages * 4096, durability: 'nosync', checkpoint: { kbytes: 0, minutes: 0 } });
  const db = await env.openDatabase('a.db', { create: true });
  return { env, db };
}

for (const check of [false, true]) {
  test(`a snapshot and a cursor open across commits that replace their pages read their own state (poison ${check ? 'on' : 'off'})`, async () => {
    await withCheck(check, async () => {
      const { env, db } = await openEnv(256);
      const model = new Map<string, string>();
      const load = env.begin();
      for (let i = 0; i < 200; i++) {
        db.put(keyOf(i), `v${i}`, load);
        model.set(keyOf(i).toString(), `v${i}`);
      }
      await load.commit();
      // Commits with nothing open: their replaced pages are spares now (or poison).
      for (let i = 0; i < 20; i++) await db.put(keyOf(i), `w${i}`);
      for (let i = 0; i < 20; i++) model.set(keyOf(i).toString(), `w${i}`);
      const want = [...model].sort(([a], [b]) => (a < b ? -1 : 1));
      const snap = env.begin({ readOnly: true });
      const cursor = db.cursor();
      assert.deepEqual(cursor.first()?.map(String), want[0]);
      // Every page of the tree replaced, several times over, while both are open.
      for (let round = 0; round < 4; round++) {
        for (let i = 0; i < 200; i += 3) await db.put(keyOf(i), `r${round}-${i}`);
      }
      for (let i = 0; i < 200; i++) assert.equal(db.get(keyOf(i), snap)?.toString(), want[i]![1], `snapshot get ${i}`);
      for (let i = 1; i < 200; i++) assert.deepEqual(cursor.next()?.map(String), want[i], `cursor step ${i}`);
      assert.equal(cursor.next(), undefined);
      cursor.close();
      snap.abort();
      if (!check) assert.ok(env.pager.stats.sparesReused > 0, 'spares were used before and after');
      await env.close();
    });
  });
}

test('an aborted or rebased transaction gives its private pages back, and its cursor refuses to step', async () => {
  await withCheck(false, async () => {
    const { env, db } = await openEnv(256);
    for (let i = 0; i < 100; i++) await db.put(keyOf(i), `v${i}`);
    const t = env.begin();
    for (let i = 0; i < 100; i += 10) db.put(keyOf(i), `x${i}`, t);
    const c = db.cursor(t);
    assert.equal(c.first()?.[1].toString(), 'x0');
    t.abort();
    assert.throws(() => c.next(), /TXN_STATE|aborted/);
    const before = env.pager.stats.sparesReused;
    await db.put(keyOf(55), 'y');
    assert.ok(env.pager.stats.sparesReused > before, 'the aborted pages were reused');
    // Two blind writers on the same leaf: the second rebases and drops its first copies.
    const a = env.begin();
    const b = env.begin();
    db.put(keyOf(1), 'a', a);
    db.put(keyOf(2), 'b', b);
    await a.commit();
    await b.commit();
    assert.equal(db.get(keyOf(1))?.toString(), 'a');
    assert.equal(db.get(keyOf(2))?.toString(), 'b');
    assert.equal(db.get(keyOf(0))?.toString(), 'v0');
    await env.close();
  });
});

// ---- random workloads against a model ------------------------------------------------------------

const OPS = process.env['CAIRN_NIGHTLY'] === '1' ? 20_000 : 1_500;
const KEYS = 600;

type Snap = Array<[string, string]>;
const sorted = (m: Map<string, string>): Snap => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

for (const check of [false, true]) {
  for (const seed of testSeeds(3)) {
    test(`arena model: ${OPS} operations, 24-page cache, snapshots, cursors, aborts, rebases, checkpoints (poison ${check ? 'on' : 'off'}, seed ${seed})`, async () => {
      await withCheck(check, async () => {
        const r = rng(seed);
        const where = (i: number, what: string): string => `seed ${seed} op ${i} (${what}), poison ${check}; replay with CAIRN_SEED=${seed}`;
        const poisonedBefore = arenaCheck.poisoned;
        const { env, db } = await openEnv(24);
        const model = new Map<string, string>();
        const snaps: Array<{ txn: Transaction; want: Map<string, string> }> = [];
        const cursors: Array<{ c: DbCursor; want: Snap; at: number }> = [];
        let writer: { txn: Transaction; pending: Map<string, string | undefined> } | undefined;
        let bg: Promise<void> | undefined;
        for (let i = 0; i < OPS; i++) {
          const dice = randInt(r, 100);
          const k = keyOf(randInt(r, KEYS)).toString();
          if (dice < 35) {
            // An autocommitted put or delete.
            if (randInt(r, 4) === 0) {
              await db.del(k);
              model.delete(k);
            } else {
              const v = randBytes(r, 20 + randInt(r, 200)).toString('hex');
              await db.put(k, v);
              model.set(k, v);
            }
          } else if (dice < 50) {
            // A multi-key write transaction, left open (others commit meanwhile) or ended now.
            if (writer === undefined) writer = { txn: env.begin(), pending: new Map() };
            const v = randBytes(r, 50).toString('hex');
            if (randInt(r, 5) === 0) {
              db.del(k, writer.txn);
              writer.pending.set(k, undefined);
            } else {
              db.put(k, v, writer.txn);
              writer.pending.set(k, v);
            }
          } else if (dice < 56 && writer !== undefined) {
            if (randInt(r, 3) === 0) writer.txn.abort();
            else {
              await writer.txn.commit(); // blind writes: rebased when others committed meanwhile
              for (const [pk, pv] of writer.pending) pv === undefined ? model.delete(pk) : model.set(pk, pv);
            }
            writer = undefined;
          } else if (dice < 62) {
            if (snaps.length < 3) snaps.push({ txn: env.begin({ readOnly: true }), want: new Map(model) });
            else snaps.splice(randInt(r, snaps.length), 1)[0]!.txn.abort();
          } else if (dice < 68) {
            if (cursors.length < 3) {
              const want = sorted(model);
              const c = db.cursor();
              const e = c.first();
              assert.deepEqual(e?.map(String), want[0], where(i, 'cursor first'));
              cursors.push({ c, want, at: 0 });
            } else cursors.splice(randInt(r, cursors.length), 1)[0]!.c.close();
          } else if (dice < 80 && cursors.length > 0) {
            const h = cursors[randInt(r, cursors.length)]!;
            for (let s = 0; s < 5 && h.at < h.want.length; s++) {
              const e = h.c.next();
              h.at++;
              assert.deepEqual(e?.map(String), h.want[h.at], where(i, `cursor step ${h.at}`));
            }
          } else if (dice < 88 && snaps.length > 0) {
            const s = snaps[randInt(r, snaps.length)]!;
            assert.equal(db.get(k, s.txn)?.toString(), s.want.get(k), where(i, `snapshot get ${k}`));
          } else if (dice < 94) {
            assert.equal(db.get(k)?.toString(), model.get(k), where(i, `get ${k}`));
          } else if (dice < 97) {
            // A checkpoint in the background: commits go on while its page list is held.
            if (bg === undefined) bg = env.checkpoint().finally(() => (bg = undefined));
          } else if (bg !== undefined) await bg;
        }
        if (bg !== undefined) await bg;
        for (const h of cursors) h.c.close();
        for (const s of snaps) {
          for (const [sk, sv] of s.want) assert.equal(db.get(sk, s.txn)?.toString(), sv, `seed ${seed}: snapshot at the end, ${sk}`);
          s.txn.abort();
        }
        writer?.txn.abort();
        assert.deepEqual([...db.range()].map((e) => e.map(String)), sorted(model), `seed ${seed}: the final state`);
        assert.deepEqual(db.verify(), []);
        if (check) assert.ok(arenaCheck.poisoned > poisonedBefore, 'buffers were poisoned');
        else assert.ok(env.pager.stats.sparesReused > 0, 'spares were reused');
        await env.close();
      });
    });
  }
}
