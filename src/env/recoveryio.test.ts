// Recovery's I/O path (issue 6, R1): the log reader reads every file into one reused buffer,
// data pages are read in blocks kept in a small LRU set, and the final check of every page does
// not checksum again what redo already found sound. These tests pin what that must not change:
//   - a transaction whose records span several log files is applied whole (its records are
//     copied before the reader reuses its buffer for the next file);
//   - pages touched in random order across many more blocks than are kept, some found on disk
//     at an older LSN (deltas applied onto a block's view), end up exactly as committed;
//   - a damaged page that redo never looks at is still reported, with file and offset.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimVfs } from '../io/sim.js';
import { Environment } from './environment.js';
import { CorruptionError } from '../util/errors.js';
import type { Transaction } from '../txn/txn.js';
import { rng, randInt, randBytes, testSeeds } from '../util/random.js';

const HOME = '/env';
const k = (i: number) => `key${String(i).padStart(6, '0')}`;

function fresh(): SimVfs {
  const vfs = new SimVfs();
  vfs.mkdir(HOME, { recursive: true });
  vfs.syncDir('/');
  return vfs;
}

async function contents(vfs: SimVfs): Promise<Map<string, string>> {
  const env = await Environment.open(HOME, { autoRemoveLogs: false, vfs });
  try {
    const db = await env.openDatabase('a.db');
    return new Map([...db.range()].map(([a, b]) => [a.toString(), b.toString('hex')]));
  } finally {
    await env.close();
  }
}

function same(got: Map<string, string>, want: Map<string, string>, why: string): void {
  assert.equal(got.size, want.size, `${why}: ${got.size} keys, expected ${want.size}`);
  for (const [key, v] of want) assert.equal(got.get(key), v, `${why}: key ${key}`);
}

// Seeds: 2 per run (CAIRN_NIGHTLY=1: 30); CAIRN_SEED=n replays one.
for (const seed of testSeeds(process.env.CAIRN_NIGHTLY === '1' ? 30 : 2)) {
  test(`a transaction whose records span several log files is recovered whole, seed ${seed}`, async () => {
    const r = rng(seed);
    const vfs = fresh();
    // 32 KiB log files: one transaction of ~150 KiB of page images spans five or more of them.
    const env = await Environment.open(HOME, { autoRemoveLogs: false, create: true, vfs, logFileSize: 32 * 1024, checkpoint: false });
    const db = await env.openDatabase('a.db', { create: true });
    const model = new Map<string, string>();
    const put = (i: number, t: Transaction) => {
      const v = randBytes(r, 50 + randInt(r, 250));
      db.put(k(i), v, t);
      model.set(k(i), v.toString('hex'));
    };
    await env.transaction((t) => {
      for (let i = 0; i < 20; i++) put(randInt(r, 5000), t);
    });
    const filesBefore = vfs.readdir(HOME).filter((n) => n.startsWith('log.')).length;
    await env.transaction((t) => {
      for (let i = 0; i < 700; i++) put(randInt(r, 5000), t);
    });
    const filesAfter = vfs.readdir(HOME).filter((n) => n.startsWith('log.')).length;
    assert.ok(filesAfter - filesBefore >= 3, `seed ${seed}: the big transaction spans only ${filesAfter - filesBefore + 1} log files`);
    await env.transaction((t) => {
      for (let i = 0; i < 20; i++) put(randInt(r, 5000), t);
    });
    await env.close();
    // From the logs alone: every record is applied, the big transaction's from copies.
    vfs.unlink(`${HOME}/a.db`);
    vfs.unlink(`${HOME}/__cairn.control`);
    const report = await Environment.recover(HOME, { vfs, catastrophic: true });
    assert.ok(report.pagesRedone > 0, `seed ${seed}: nothing redone`);
    same(await contents(vfs), model, `seed ${seed}, from the logs alone`);
    // And again onto the recovered files: every record a no-op (I10), same contents.
    await Environment.recover(HOME, { vfs, catastrophic: true });
    same(await contents(vfs), model, `seed ${seed}, recovered twice`);
  });

  test(`pages read in blocks: random order over many blocks, deltas onto pages found on disk, seed ${seed}`, async () => {
    const r = rng(seed);
    const vfs = fresh();
    const env = await Environment.open(HOME, { autoRemoveLogs: false, create: true, vfs, logFileSize: 256 * 1024, checkpoint: false });
    const db = await env.openDatabase('a.db', { create: true });
    const model = new Map<string, string>();
    const N = 8000; // ~3 MB of values, ~1,000 leaves: more than the 32 blocks of 16 pages kept
    const put = (i: number, t: Transaction) => {
      const v = randBytes(r, 250 + randInt(r, 200));
      db.put(k(i), v, t);
      model.set(k(i), v.toString('hex'));
    };
    for (let b = 0; b < N; b += 1000) {
      await env.transaction((t) => {
        for (let i = b; i < b + 1000; i++) put(i, t);
      });
    }
    await env.checkpoint();
    const pre = vfs.snapshotFiles();
    // Updates in random order: a leaf's first change after the checkpoint is an image (I4),
    // its later ones deltas.
    const ends: number[] = [];
    for (let round = 0; round < 40; round++) {
      await env.transaction((t) => {
        for (let j = 0; j < 60; j++) put(randInt(r, N), t);
      });
      ends.push(env.logEnd);
    }
    await env.flushLog();
    const logs = new Map([...vfs.snapshotFiles()].filter(([p]) => /log\.\d+$/.test(p)));
    await env.close();
    // Data files that hold pages half way through their chains of deltas: the checkpointed
    // files recovered to the middle of the updates.
    const files = new Map<string, Uint8Array>([...pre].filter(([p]) => !/log\.\d+$/.test(p)));
    for (const [p, d] of logs) files.set(p, d);
    const a = SimVfs.fromFiles(files);
    const mid = ends[20]!;
    await Environment.recover(HOME, { vfs: a, untilLsn: `${Math.floor(mid / 0x1_0000_0000)}/${mid % 0x1_0000_0000}` });
    // Then the whole log again over them: the deltas after the middle find their pages on disk.
    const b = SimVfs.fromFiles(new Map([...a.snapshotFiles()].filter(([p]) => !/log\.\d+$|__cairn\.after/.test(p)).concat([...logs])));
    const report = await Environment.recover(HOME, { vfs: b, catastrophic: true });
    assert.ok(report.pagesRedone > 0, `seed ${seed}: nothing redone`);
    const pages = b.stat(`${HOME}/a.db`)!.size / 4096;
    assert.ok(pages > 1.5 * 32 * 16, `seed ${seed}: only ${pages} pages, the blocks kept would hold them all`);
    same(await contents(b), model, `seed ${seed}`);
  });
}

test('a damaged page that no log record touches is still reported by catastrophic recovery', async () => {
  const vfs = fresh();
  const env = await Environment.open(HOME, { autoRemoveLogs: false, create: true, vfs, logFileSize: 64 * 1024, checkpoint: false });
  const db = await env.openDatabase('a.db', { create: true });
  for (let b = 0; b < 3000; b += 500) {
    await env.transaction((t) => {
      for (let i = b; i < b + 500; i++) db.put(k(i), 'x'.repeat(80), t);
    });
  }
  await env.checkpoint();
  await env.close();
  // Keep only the newest log file: its records touch a few pages, the rest only the data file has.
  const logs = vfs.readdir(HOME).filter((n) => n.startsWith('log.'));
  for (const n of logs.slice(0, -1)) vfs.unlink(`${HOME}/${n}`);
  const data = vfs.readFile(`${HOME}/a.db`);
  const pages = data.length / 4096;
  assert.ok(pages > 10, `only ${pages} pages`);
  const victim = pages - 2;
  data[victim * 4096 + 100] ^= 0x10;
  vfs.writeFile(`${HOME}/a.db`, data);
  await assert.rejects(Environment.recover(HOME, { vfs, catastrophic: true }), (e: unknown) => {
    assert.ok(e instanceof CorruptionError, `not a CorruptionError: ${String(e)}`);
    assert.match(e.message, /a\.db/);
    assert.match(e.message, new RegExp(`offset ${victim * 4096}\\b`));
    return true;
  });
});
