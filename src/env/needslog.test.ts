// needsLog (issue 4 item 5, I7): each checkpoint records its redo point in every data file's meta
// page through an internal transaction (id 0). Checked here on the simulated file system: the
// value recorded, files not opened in the session included, the transaction not counted as a
// commit and causing no CONFLICT for a user transaction that spans the checkpoint, and a copy
// without the log its data file needs refused by catastrophic recovery (the real file system and
// db_recover -c: src/backup/refusals.test.ts; fuzzy copies interleaved with a writer:
// src/backup/interleave.test.ts).

import { RETENTION_HINT } from '../log/retention.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimVfs } from '../io/sim.js';
import { Environment } from './environment.js';
import { openDataFile } from '../recovery/check.js';
import { LogReader, listLogFiles } from '../log/reader.js';
import { logFileName } from '../log/file.js';
import { INTERNAL_TXN } from '../txn/txn.js';
import { CairnError } from '../util/errors.js';
import { type Lsn, formatLsn, lsnFile } from '../util/lsn.js';
import { randInt, rng, testSeeds } from '../util/random.js';

const HOME = '/env';
const COPY = '/copy';
const k = (i: number) => `key${String(i).padStart(6, '0')}`;

function fresh(): SimVfs {
  const vfs = new SimVfs();
  vfs.mkdir(HOME, { recursive: true });
  vfs.syncDir('/');
  return vfs;
}

function needsLog(vfs: SimVfs, dir: string, name: string, envId: Buffer): Lsn {
  const f = openDataFile(vfs, name, `${dir}/${name}`, envId);
  assert.ok(f !== undefined, `${dir}/${name} has a sound meta page`);
  return f.needsLog;
}

function envIdOf(vfs: SimVfs): Buffer {
  return Buffer.from(JSON.parse(vfs.readFile(`${HOME}/__cairn.control`).toString('utf8').split('\n')[0]!).envId, 'hex');
}

test('a checkpoint records its redo point in every data file, open or not, in a transaction that is not a user commit', async () => {
  const vfs = fresh();
  let env = await Environment.open(HOME, { autoRemoveLogs: false, create: true, vfs, logFileSize: 32 * 1024, checkpoint: false });
  for (const name of ['a.db', 'b.db']) await (await env.openDatabase(name, { create: true })).put('x', name);
  await env.close();
  const envId = envIdOf(vfs);
  const bAtClose = needsLog(vfs, HOME, 'b.db', envId);
  assert.ok(bAtClose > 0, 'the closing checkpoint recorded b.db');

  // b.db is not opened in this session; the log moves on several files.
  env = await Environment.open(HOME, { autoRemoveLogs: false, vfs, logFileSize: 32 * 1024, checkpoint: false });
  const a = await env.openDatabase('a.db');
  for (let i = 0; i < 400; i++) await a.put(k(i), 'v'.repeat(200));
  const commitsBefore = env.stat().txn.commits;
  await env.checkpoint();
  const redo = env.redoPoint;
  assert.equal(env.stat().txn.commits, commitsBefore, "the checkpoint's transaction is not counted as a commit");
  await env.close();
  assert.ok(lsnFile(redo) > lsnFile(bAtClose), `the log moved to a later file (${formatLsn(bAtClose)} → ${formatLsn(redo)})`);
  for (const name of ['a.db', 'b.db']) {
    const n = needsLog(vfs, HOME, name, envId);
    assert.ok(lsnFile(n) >= lsnFile(redo), `${name}: needsLog ${formatLsn(n)}, the last checkpoint's redo point ${formatLsn(redo)}`);
  }

  // In the log: transaction 0, page records of page 0 only, then its commit; recovery does not count it.
  const reader = new LogReader(vfs, HOME, envId);
  let internal = 0;
  let user = 0;
  for (const raw of reader.records()) {
    const rec = reader.decode(raw);
    if (rec.type === 'page_image' || rec.type === 'page_delta') {
      if (rec.txn === INTERNAL_TXN) assert.equal(rec.pgno, 0, `the internal transaction at ${formatLsn(raw.lsn)} changes only meta pages`);
    } else if (rec.type === 'commit') {
      if (rec.txn === INTERNAL_TXN) internal++;
      else user++;
    }
  }
  assert.ok(internal >= 2, `internal transactions in the log: ${internal}`);
  const r = await Environment.recover(HOME, { vfs, catastrophic: true });
  assert.equal(r.transactions, user, 'recovery counts user commits only');
});

test('a user transaction spanning a checkpoint commits without CONFLICT, its meta page changes kept with needsLog', async () => {
  for (const seed of testSeeds(3)) {
    const where = `seed ${seed} (replay: CAIRN_SEED=${seed})`;
    const r = rng(seed);
    const vfs = fresh();
    const env = await Environment.open(HOME, { autoRemoveLogs: false, create: true, vfs, logFileSize: 32 * 1024, checkpoint: false });
    const db = await env.openDatabase('a.db', { create: true });
    const model = new Map<string, string>();
    for (let i = 0; i < 50 + randInt(r, 100); i++) {
      await db.put(k(i), `v${i}`);
      model.set(k(i), `v${i}`);
    }
    // Reads a.db, then writes enough to allocate pages (the meta page changes), across a checkpoint.
    const txn = env.begin();
    assert.equal(db.get(k(0), txn)?.toString(), 'v0', where);
    const n = 100 + randInt(r, 400);
    for (let i = 0; i < n; i++) {
      db.put(`new${i}`, 'w'.repeat(100 + randInt(r, 300)), txn);
      model.set(`new${i}`, '');
    }
    await env.checkpoint();
    await txn.commit(); // must not throw CONFLICT: the checkpoint's transaction is not a user change
    const redo = env.redoPoint;
    await env.close();
    const vfs2 = SimVfs.fromFiles(vfs.snapshotFiles());
    const env2 = await Environment.open(HOME, { autoRemoveLogs: false, vfs: vfs2 });
    const got = [...(await env2.openDatabase('a.db')).range()].map(([key]) => key.toString());
    await env2.close();
    assert.deepEqual(got, [...model.keys()].sort(), `${where}: the data after the checkpoint and the commit`);
    assert.ok(lsnFile(needsLog(vfs2, HOME, 'a.db', envIdOf(vfs2))) >= lsnFile(redo), `${where}: needsLog kept through the rebase`);
  }
});

test('catastrophic recovery refuses a copy without the log files its data file needs, and recovers it with them', async () => {
  const vfs = fresh();
  const env = await Environment.open(HOME, { autoRemoveLogs: false, create: true, vfs, logFileSize: 32 * 1024, checkpoint: false });
  const db = await env.openDatabase('a.db', { create: true });
  for (let i = 0; i < 100; i++) await db.put(k(i), 'a'.repeat(150));
  await env.checkpoint();
  const need = env.redoPoint;
  const data = vfs.readFile(`${HOME}/a.db`); // step 1: the data file
  for (let i = 100; i < 900; i++) await db.put(k(i), 'b'.repeat(150)); // commits only the log holds
  await env.close();
  const logs = listLogFiles(vfs, HOME);
  const from = logs.indexOf(lsnFile(need));
  assert.ok(from >= 0 && logs.length > from + 3, `logs ${logs.join(' ')}, needed from ${formatLsn(need)}`);
  const copy = (first: number) => {
    const c = SimVfs.fromFiles(new Map());
    c.mkdir(COPY, { recursive: true });
    c.writeFile(`${COPY}/a.db`, data);
    for (const n of logs.slice(first)) c.writeFile(`${COPY}/${logFileName(n)}`, vfs.readFile(`${HOME}/${logFileName(n)}`));
    return c;
  };
  for (const first of [from + 1, from + 2, from + 3]) {
    const c = copy(first);
    await assert.rejects(Environment.recover(COPY, { vfs: c, catastrophic: true }), (e: unknown) => {
      assert.ok(e instanceof CairnError, String(e));
      const missing =
        first - from === 1 ? logFileName(logs[from]!) : first - from === 2 ? `${logFileName(logs[from]!)} and ${logFileName(logs[from + 1]!)}` : `${logFileName(logs[from]!)} … ${logFileName(logs[first - 1]!)}`;
      assert.equal(e.message, `data file ${COPY}/a.db needs the log from ${formatLsn(need)}, but the first log file is ${logFileName(logs[first]!)}: copy ${missing} from the primary or its archive, then run db_recover -c (${RETENTION_HINT})`);
      return true;
    });
    await assert.rejects(Environment.open(COPY, { autoRemoveLogs: false, vfs: c }), /db_recover -c/, 'the copy stays marked');
  }
  const c = copy(from);
  await Environment.recover(COPY, { vfs: c, catastrophic: true });
  const e2 = await Environment.open(COPY, { autoRemoveLogs: false, vfs: c });
  assert.equal([...(await e2.openDatabase('a.db')).range()].length, 900, 'every commit, with the log from needsLog on');
  await e2.close();
});

/** Control file fields (docs/FORMAT.md). */
function controlOf(vfs: SimVfs): { redo: Lsn; end: Lsn } {
  return JSON.parse(vfs.readFile(`${HOME}/__cairn.control`).toString('utf8').split('\n')[0]!);
}

/** A copy of the data files with the log files from the redo point's on: catastrophic recovery must accept it, with `count` keys. */
async function copyFromRedoRecovers(vfs: SimVfs, count: number, where: string): Promise<void> {
  const redoFile = lsnFile(controlOf(vfs).redo);
  const c = new SimVfs();
  c.mkdir(COPY, { recursive: true });
  c.writeFile(`${COPY}/a.db`, vfs.readFile(`${HOME}/a.db`));
  for (const n of listLogFiles(vfs, HOME).filter((n) => n >= redoFile)) c.writeFile(`${COPY}/${logFileName(n)}`, vfs.readFile(`${HOME}/${logFileName(n)}`));
  await Environment.recover(COPY, { vfs: c, catastrophic: true });
  const env = await Environment.open(COPY, { autoRemoveLogs: false, vfs: c });
  try {
    assert.equal([...(await env.openDatabase('a.db')).range()].length, count, `${where}: the copy from the redo point holds every commit`);
  } finally {
    await env.close();
  }
}

test('the redo point never asks for less log than the data files need: after a close whose checkpoint reached a new log file, and after recovery', async () => {
  // Close: fills that end at every distance from a log file's end, so that some close's
  // checkpoint records (a meta page image, the checkpoint record) start a new log file.
  let crossed = 0;
  for (let n = 60; n < 100; n++) {
    const vfs = fresh();
    const env = await Environment.open(HOME, { autoRemoveLogs: false, create: true, vfs, logFileSize: 32 * 1024, checkpoint: false });
    const db = await env.openDatabase('a.db', { create: true });
    for (let i = 0; i < n; i++) await db.put(k(i), 'c'.repeat(400));
    const before = lsnFile(env.logEnd);
    await env.close();
    const { redo } = controlOf(vfs);
    if (lsnFile(redo) > before) crossed++;
    const need = needsLog(vfs, HOME, 'a.db', envIdOf(vfs));
    assert.ok(lsnFile(need) >= lsnFile(redo), `${n} puts: closed with the redo point ${formatLsn(redo)}, a.db needs ${formatLsn(need)}`);
    await copyFromRedoRecovers(vfs, n, `${n} puts, closed`);
  }
  assert.ok(crossed > 0, 'no close reached a new log file');

  // Recovery of a crash image: the last checkpoint's redo point is several log files back.
  const vfs = fresh();
  const env = await Environment.open(HOME, { autoRemoveLogs: false, create: true, vfs, logFileSize: 32 * 1024, checkpoint: false });
  const db = await env.openDatabase('a.db', { create: true });
  for (let i = 0; i < 50; i++) await db.put(k(i), 'r'.repeat(400));
  await env.checkpoint();
  for (let i = 50; i < 300; i++) await db.put(k(i), 'r'.repeat(400));
  const crashed = SimVfs.fromFiles(vfs.durableFiles());
  await Environment.recover(HOME, { vfs: crashed });
  const { redo, end } = controlOf(crashed);
  const need = needsLog(crashed, HOME, 'a.db', envIdOf(crashed));
  assert.ok(lsnFile(end) > lsnFile(need), `the crash is log files past the checkpoint (${formatLsn(need)} … ${formatLsn(end)})`);
  assert.ok(lsnFile(redo) <= lsnFile(need), `recovered with the redo point ${formatLsn(redo)}, a.db needs ${formatLsn(need)}`);
  await copyFromRedoRecovers(crashed, 300, 'recovered');
});
