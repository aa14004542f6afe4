// Image epochs survive eviction (DataFile.imageEpochs; docs/DESIGN.md I4, §Checkpoints: write-back):
// a page whose full image was logged in the current checkpoint epoch, then written back, evicted
// and read again, needs no second image; after the next epoch begins it needs one again. Checked
// against a model (the epoch of each page's last image) through random installs, write-backs,
// reads that evict and epoch bumps: needsImage must answer exactly what the model says — never
// "no image" for a page not imaged in this epoch (I4), and no image beyond one per page per epoch.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimVfs } from '../io/sim.js';
import { DataFile, Pager, initPageHeader } from './pager.js';
import { randInt, rng, testSeeds } from '../util/random.js';

const PAGE = 512;
const PAGES = 40;

for (const seed of testSeeds(5)) {
  test(`needsImage agrees with a model of each page's last image epoch across write-backs and evictions (seed ${seed})`, () => {
    const vfs = new SimVfs();
    vfs.mkdir('/d', { recursive: true });
    const pager = new Pager(vfs, { cacheSize: 6 * PAGE });
    const file = new DataFile('f.db', '/d/f.db', 7, PAGE);
    pager.addFile(file);
    for (let pgno = 0; pgno < PAGES; pgno++) {
      const buf = Buffer.alloc(PAGE, pgno & 0xff);
      initPageHeader(buf, pgno, file.uid, 3);
      pager.writePage(file, pgno, buf);
    }
    const r = rng(seed);
    /** pgno → epoch of its last logged image. */
    const imaged = new Map<number, number>();
    let reloadedWithoutImage = 0;
    let reloadedWithImage = 0;
    for (let step = 0; step < 3000; step++) {
      const op = randInt(r, 100);
      if (op < 40) {
        const pgno = randInt(r, PAGES);
        const cached = file.pages.has(pgno);
        const image = pager.needsImage(file, pgno);
        const want = imaged.get(pgno) !== pager.epoch;
        assert.equal(image, want, `seed ${seed} step ${step}: page ${pgno} (${cached ? 'cached' : 'not cached'}) last imaged in epoch ${imaged.get(pgno)}, epoch ${pager.epoch}`);
        if (!cached) {
          if (image) reloadedWithImage++;
          else reloadedWithoutImage++;
        }
        const next = Buffer.from(pager.read(file, pgno, Infinity));
        next[PAGE - 1] = (next[PAGE - 1]! + 1) & 0xff;
        pager.install(file, pgno, next, ++pager.seq, image);
        if (image) imaged.set(pgno, pager.epoch);
      } else if (op < 60) {
        // A write-back of every dirty page.
        for (const d of pager.collectWriteBack(Infinity)) {
          pager.writePage(d.file, d.pgno, d.buf);
          pager.markClean(d.file, d.pgno, d.buf);
        }
      } else if (op < 97) {
        pager.peek(file, randInt(r, PAGES)); // loads, and evicts past the budget
        pager.settle();
      } else pager.epoch++;
    }
    assert.ok(pager.stats.evictions > 100, `seed ${seed}: ${pager.stats.evictions} evictions`);
    assert.ok(reloadedWithoutImage > 0 && reloadedWithImage > 0, `seed ${seed}: pages read again after eviction: ${reloadedWithoutImage} without an image, ${reloadedWithImage} with one`);
  });
}
