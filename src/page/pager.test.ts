// The pager's frame reuse for point reads (Pager.peek, PERFORMANCE.md §W4): a buffer loaded for
// peek callers only is reused for a later load after its page is evicted, but never while a
// peek caller may still hold it (before settle) and never once read() has handed it out.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimVfs } from '../io/sim.js';
import { DataFile, Pager, arenaCheck, initPageHeader } from './pager.js';
import { randInt, rng, testSeeds } from '../util/random.js';

const PAGE = 512;

/** Frames reused, or under CAIRN_CHECKS=arena poisoned instead (counted from the last setup). */
let poisoned0 = 0;
function reused(pager: Pager): number {
  return arenaCheck.on ? arenaCheck.poisoned - poisoned0 : pager.stats.framesReused;
}

function setup(pages: number): { pager: Pager; file: DataFile } {
  poisoned0 = arenaCheck.poisoned;
  const vfs = new SimVfs();
  vfs.mkdir('/d', { recursive: true });
  const pager = new Pager(vfs, { cacheSize: 4 * PAGE });
  const file = new DataFile('f.db', '/d/f.db', 7, PAGE);
  pager.addFile(file);
  for (let pgno = 0; pgno < pages; pgno++) {
    const buf = Buffer.alloc(PAGE, pgno & 0xff);
    initPageHeader(buf, pgno, file.uid, 3);
    pager.writePage(file, pgno, buf);
  }
  return { pager, file };
}

test('a peeked page evicted during a peek operation is not reused before settle', () => {
  const { pager, file } = setup(40);
  const held = pager.peek(file, 1);
  const copy = Buffer.from(held);
  for (let pgno = 2; pgno < 40; pgno++) pager.peek(file, pgno); // evicts page 1 (cache of 4 pages)
  assert.ok(pager.stats.evictions > 0);
  assert.equal(reused(pager), 0, 'no frame is reused before settle');
  assert.ok(held.equals(copy), 'the held buffer still has page 1');
  pager.settle();
  for (let pgno = 2; pgno < 40; pgno++) pager.peek(file, pgno);
  assert.ok(reused(pager) > 0, 'frames evicted before settle are reused after it');
  // A reused frame holds the page it was loaded for.
  for (let pgno = 0; pgno < 40; pgno++) assert.equal(pager.peek(file, pgno)[100], pgno & 0xff);
});

test('a page handed out by read() is never reused', () => {
  const { pager, file } = setup(40);
  const kept = pager.read(file, 5, Infinity);
  const copy = Buffer.from(kept);
  for (let round = 0; round < 20; round++) {
    for (let pgno = 0; pgno < 40; pgno++) pager.peek(file, pgno);
    pager.settle();
  }
  assert.ok(reused(pager) >= 10, `frames reused: ${reused(pager)}`);
  assert.ok(kept.equals(copy), 'the buffer read() returned still holds page 5');
});

test('a page that read() loads stays unreused even when its own load evicts it', () => {
  const { pager, file } = setup(40);
  // Fill the cache with dirty pages (never evicted): the next load can only evict what it loaded.
  for (let pgno = 20; pgno < 25; pgno++) {
    const buf = Buffer.alloc(PAGE, 0xaa);
    initPageHeader(buf, pgno, file.uid, 3);
    pager.install(file, pgno, buf, ++pager.seq, true);
  }
  const peeked = pager.peek(file, 2); // loaded as a frame, evicted by its own load, kept in `freed`
  assert.equal(peeked[100], 2);
  pager.settle();
  const kept = pager.read(file, 3, Infinity);
  const copy = Buffer.from(kept);
  assert.ok(pager.stats.evictions >= 2, `evictions: ${pager.stats.evictions}`);
  pager.settle();
  for (let pgno = 4; pgno < 12; pgno++) {
    pager.peek(file, pgno);
    pager.settle();
  }
  assert.ok(reused(pager) > 0, 'frames are reused');
  assert.ok(kept.equals(copy), 'the buffer read() returned still holds page 3');
});

// Pager.pagesOnDisk lets an install skip reading a page new at the end of the file for older
// snapshots (PERFORMANCE.md §W1: a pread per split page during a load). It must never be below
// the file's real size in pages, or an evicted page's version on disk would be lost to a snapshot.
for (const seed of testSeeds(4)) {
  test(`pagesOnDisk is the file's size in pages through writes and reopened handles (seed ${seed})`, () => {
    const r = rng(seed);
    const vfs = new SimVfs();
    vfs.mkdir('/d', { recursive: true });
    const pager = new Pager(vfs, { cacheSize: 4 * PAGE });
    const file = new DataFile('f.db', '/d/f.db', 7, PAGE);
    pager.addFile(file);
    assert.equal(pager.pagesOnDisk(file), 0, `seed ${seed}: no file yet`);
    for (let i = 0; i < 200; i++) {
      const pgno = randInt(r, 3) === 0 ? randInt(r, 64) : pager.pagesOnDisk(file) + randInt(r, 3);
      const buf = Buffer.alloc(PAGE, i & 0xff);
      initPageHeader(buf, pgno, file.uid, 3);
      pager.writePage(file, pgno, buf);
      if (randInt(r, 10) === 0) {
        file.handle?.close(); // as a rename does: the next handle is sized again
        file.handle = undefined;
      }
      if (randInt(r, 2) === 0) {
        const real = Math.ceil(vfs.stat('/d/f.db')!.size / PAGE);
        assert.equal(pager.pagesOnDisk(file), real, `seed ${seed}, write ${i} (page ${pgno})`);
      }
    }
  });
}

test('an install keeps the version on disk of an evicted page for an older snapshot, and reads nothing for a new page', () => {
  const { pager, file } = setup(40);
  let reads = 0;
  const readFromDisk = pager.readFromDisk.bind(pager);
  pager.readFromDisk = (f, pgno, into) => (reads++, readFromDisk(f, pgno, into));
  const snap = pager.openSnapshot();
  for (let pgno = 10; pgno < 40; pgno++) pager.peek(file, pgno); // evicts page 3 (cache of 4 pages)
  pager.settle();
  const before = reads;
  const seq = ++pager.seq;
  for (const pgno of [3, 40, 41]) {
    const buf = Buffer.alloc(PAGE, 0xcc);
    initPageHeader(buf, pgno, file.uid, 4);
    pager.install(file, pgno, buf, seq, true);
  }
  assert.equal(reads - before, 1, 'only the evicted page 3 was read back from disk');
  assert.equal(pager.read(file, 3, snap)[100], 3, 'the snapshot still sees page 3 as on disk');
  assert.equal(pager.read(file, 3, Infinity)[100], 0xcc, 'the latest version is the installed one');
  assert.equal(pager.read(file, 40, Infinity)[100], 0xcc);
  pager.releaseSnapshot(snap);
});

for (const seed of testSeeds(4)) {
  test(`writePages writes what writePage writes page by page: bytes, checksums, LSN map, size (seed ${seed})`, () => {
    const r = rng(seed);
    const one = setup(0);
    const runs = setup(0);
    for (let i = 0; i < 60; i++) {
      const start = randInt(r, 50);
      const bufs = Array.from({ length: 1 + randInt(r, 9) }, (_, j) => {
        const b = Buffer.alloc(PAGE, randInt(r, 256));
        initPageHeader(b, start + j, one.file.uid, 3);
        b.writeUInt32LE(randInt(r, 1000), 8); // the LSN's offset half (page/format.ts): varies per page
        return b;
      });
      bufs.forEach((b, j) => one.pager.writePage(one.file, start + j, Buffer.from(b)));
      runs.pager.writePages(runs.file, start, bufs.map((b) => Buffer.from(b)));
    }
    const a = one.pager.vfs.readFile('/d/f.db');
    const b = runs.pager.vfs.readFile('/d/f.db');
    assert.ok(a.equals(b), `seed ${seed}: the files differ`);
    assert.equal(runs.pager.pagesOnDisk(runs.file), Math.ceil(b.length / PAGE));
    assert.equal(runs.pager.stats.pagesWritten, one.pager.stats.pagesWritten);
    for (let pgno = 0; pgno * PAGE < a.length; pgno++) {
      assert.equal(runs.pager.lsns.get(runs.file.uid, pgno), one.pager.lsns.get(one.file.uid, pgno), `seed ${seed}: LSN map of page ${pgno}`);
    }
  });
}
