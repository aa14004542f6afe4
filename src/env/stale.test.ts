// Stale pages (issue 4 item 6, I6): a page on disk whose checksum and identity are right but
// which is an older version than the last one written — a lost write, or a data file page put
// back from an earlier copy. The page LSN map (src/page/lsnmap.ts) catches it when the page is
// read; catastrophic recovery either rebuilds it from the log or refuses it. Also: the map file
// itself missing, damaged, or an older copy of it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimVfs } from '../io/sim.js';
import { Environment } from './environment.js';
import { checkPage } from '../page/pager.js';
import { PageOffset } from '../page/format.js';
import { PAGE_MAP_FILE } from '../page/lsnmap.js';
import { CairnError, CorruptionError } from '../util/errors.js';
import { readLsn } from '../util/lsn.js';

const HOME = '/env';
const DB = `${HOME}/a.db`;
const MAP = `${HOME}/${PAGE_MAP_FILE}`;
const PAGE = 1024;

const key = (i: number) => `key${String(i).padStart(5, '0')}`;

/** Two clean-close images of one environment: `old` and, after more changes, `now`. */
async function build(): Promise<{ old: Map<string, Buffer>; now: Map<string, Buffer>; model: Map<string, string> }> {
  const vfs = new SimVfs();
  vfs.mkdir(HOME, { recursive: true });
  const model = new Map<string, string>();
  let env = await Environment.open(HOME, { autoRemoveLogs: false, create: true, vfs, pageSize: PAGE, logFileSize: 64 * 1024, checkpoint: false });
  let db = await env.openDatabase('a.db', { create: true });
  for (let i = 0; i < 1200; i++) {
    const v = i % 150 === 7 ? `big${i}`.repeat(600) : `v1-${i}`;
    await db.put(key(i), v);
    model.set(key(i), v);
  }
  await env.close();
  const old = vfs.snapshotFiles();
  env = await Environment.open(HOME, { autoRemoveLogs: false, vfs, checkpoint: false });
  db = await env.openDatabase('a.db');
  for (let i = 0; i < 1200; i += 2) {
    const v = i % 150 === 7 ? `BIG${i}`.repeat(700) : `v2-${i}`;
    await db.put(key(i), v);
    model.set(key(i), v);
  }
  for (let i = 1; i < 1200; i += 7) {
    await db.del(key(i));
    model.delete(key(i));
  }
  await env.close();
  return { old, now: vfs.snapshotFiles(), model };
}

async function readAll(vfs: SimVfs): Promise<{ data: Map<string, string>; problems: string[] }> {
  const env = await Environment.open(HOME, { autoRemoveLogs: false, vfs, checkpoint: false });
  try {
    const db = await env.openDatabase('a.db');
    const data = new Map([...db.range()].map(([k, v]) => [k.toString(), v.toString()]));
    for (const [k, v] of data) assert.equal(db.get(k)?.toString(), v);
    const problems = db.verify();
    // Writes reuse free pages: a stale page on the free list is read when it is allocated.
    await env.transaction((txn) => {
      for (let i = 0; i < 400; i++) db.put(`new${i}`, 'x'.repeat(200), txn);
    });
    return { data, problems };
  } finally {
    await env.close();
  }
}

test('every stale page of a data file is caught when read, with file and offset', async () => {
  const { old, now, model } = await build();
  const before = old.get(DB)!;
  const after = now.get(DB)!;
  let cases = 0;
  let rebuilt = 0;
  let refused = 0;
  for (let pgno = 0; (pgno + 1) * PAGE <= Math.min(before.length, after.length); pgno++) {
    const stale = before.subarray(pgno * PAGE, (pgno + 1) * PAGE);
    const cur = after.subarray(pgno * PAGE, (pgno + 1) * PAGE);
    if (checkPage(stale, pgno, stale.readUInt32LE(PageOffset.fileUid)) !== undefined) continue; // never written then
    if (readLsn(stale, PageOffset.lsnFile) === readLsn(cur, PageOffset.lsnFile)) continue; // unchanged: not stale
    cases++;
    const what = `stale page ${pgno} (type ${cur[PageOffset.type]} now, ${stale[PageOffset.type]} then)`;
    const damaged = Buffer.from(after);
    stale.copy(damaged, pgno * PAGE);
    const files = new Map(now).set(DB, damaged);

    // A normal open (no recovery: the environment was closed cleanly) reads it and refuses it.
    let caught: string | undefined;
    try {
      const got = await readAll(SimVfs.fromFiles(files));
      caught = got.problems.find((p) => p.includes('stale page'));
      if (caught === undefined) assert.deepEqual(got.data, model, `${what}: wrong data returned`);
    } catch (e) {
      if (!(e instanceof CorruptionError)) throw e;
      assert.equal(e.file, DB, `${what}: ${e.message}`);
      assert.equal(e.offset, pgno * PAGE, `${what}: ${e.message}`);
      assert.match(e.message, /stale page/);
      caught = e.message;
    }
    assert.ok(caught !== undefined, `${what}: read without an error`);

    // Catastrophic recovery replays the log over it: rebuilt exactly, or refused with a typed error.
    const vfs = SimVfs.fromFiles(files);
    try {
      await Environment.recover(HOME, { vfs, catastrophic: true });
      const got = await readAll(vfs);
      assert.deepEqual(got.data, model, `${what}: wrong data after catastrophic recovery`);
      assert.deepEqual(got.problems, [], `${what}: tree problems after catastrophic recovery`);
      rebuilt++;
    } catch (e) {
      if (!(e instanceof CairnError) || e.code !== 'CORRUPT') throw e;
      refused++;
    }
  }
  assert.ok(cases >= 20, `only ${cases} stale pages to try`);
  console.log(`stale pages: ${cases} cases, all caught by a normal open; catastrophic recovery rebuilt ${rebuilt}, refused ${refused}`);
});

test('the page LSN map missing, damaged or put back from an older copy: refused, and db_recover -c rebuilds it', async () => {
  const { old, now, model } = await build();
  const cases: Array<[string, Map<string, Buffer>, RegExp]> = [
    ['missing', new Map([...now].filter(([p]) => p !== MAP)), /__cairn\.pages is missing/],
    ['an older copy', new Map(now).set(MAP, old.get(MAP)!), /is not the page LSN map of this environment's data files/],
    ['damaged', new Map(now).set(MAP, Buffer.from(now.get(MAP)!).fill(7, 50, 52)), /page LSN map checksum mismatch/],
  ];
  for (const [what, files, message] of cases) {
    const vfs = SimVfs.fromFiles(files);
    await assert.rejects(Environment.open(HOME, { autoRemoveLogs: false, vfs }), (e: unknown) => {
      assert.ok(e instanceof CairnError, `${what}: ${String(e)}`);
      assert.match(e.message, message, what);
      assert.match(e.message, /db_recover -c/, what);
      return true;
    });
    await Environment.recover(HOME, { vfs, catastrophic: true });
    const got = await readAll(vfs);
    assert.deepEqual(got.data, model, `${what}: data after db_recover -c`);
    assert.deepEqual(got.problems, [], what);
  }
});
