// The next log file prepared ahead (writer.ts: NEXT_LOG_FILE, zero-filled and fdatasynced in the
// thread pool, renamed to its log file name at the switch). Oracles: the log reads back exactly
// as appended whichever way each switch went; a crash at any fsync, with the next file in any
// state (created, partly zeroed, synced, renamed without its directory entry durable), recovers
// to a prefix of the records that holds every acknowledged one, with no corruption reported
// (I2, I6), and a writer resumed there appends after it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimVfs, type CrashMode } from '../io/sim.js';
import { commit, envId, opts, setup } from './testkit.js';
import { LogWriter, NEXT_LOG_FILE } from './writer.js';
import { LogReader } from './reader.js';
import { randInt, rng, testSeeds } from '../util/random.js';

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
class Crash extends Error {}

interface Run {
  lsns: number[];
  /** Records [0, acked) were acknowledged durable (a flush resolved after their append). */
  acked: number;
  image: SimVfs | undefined;
  syncs: number;
  nextSyncs: number;
  prepared: number;
}

/** Appends in steps; each step then flushes, lets the event loop turn, or neither (a switch may find the next file unready). */
async function workload(seed: number, crashAt: number, mode: CrashMode): Promise<Run> {
  const r = rng(seed);
  const vfs = setup();
  const run: Run = { lsns: [], acked: 0, image: undefined, syncs: 0, nextSyncs: 0, prepared: 0 };
  const w = LogWriter.create(vfs, '/env', opts); // the first file is made in place: crashes from here on
  const base = vfs.syncCount;
  vfs.onSync = (n, p) => {
    if (p.endsWith(NEXT_LOG_FILE)) run.nextSyncs++;
    if (n - base === crashAt) {
      run.image = vfs.crash({ seed: seed * 1000 + n, mode });
      throw new Crash(`crash at sync ${n - base}`);
    }
  };
  try {
    for (let step = 0; step < 60; step++) {
      for (let j = 1 + randInt(r, 6); j > 0; j--) {
        const i = run.lsns.length;
        run.lsns.push(w.append({ type: 'page_image', txn: i, file: 1, pgno: i, image: Buffer.alloc(200 + randInt(r, 1500), i & 0xff) }));
      }
      run.lsns.push(w.append(commit(run.lsns.length, w.durableLsn)));
      const k = randInt(r, 3);
      if (k === 0) {
        const n = run.lsns.length;
        await w.flush();
        run.acked = Math.max(run.acked, n);
      } else if (k === 1) await turn();
    }
    const n = run.lsns.length;
    await w.flush();
    run.acked = n;
  } catch (e) {
    if (!(e instanceof Crash || (e instanceof Error && e.cause instanceof Crash))) throw e;
  } finally {
    run.syncs = vfs.syncCount - base;
    run.prepared = w.preparedSwitches;
    vfs.onSync = undefined;
    w.close();
  }
  return run;
}

for (const seed of testSeeds(6)) {
  test(`a crash at any fsync around prepared log files recovers every acknowledged record, and nothing else (seed ${seed})`, async () => {
    const dry = await workload(seed, -1, 'random');
    assert.equal(dry.acked, dry.lsns.length);
    assert.ok(dry.prepared >= 2, `seed ${seed}: only ${dry.prepared} switches found the next file prepared`);
    assert.ok(dry.nextSyncs >= 2, `seed ${seed}: ${dry.nextSyncs} fsyncs of a next file`);
    const modes: CrashMode[] = ['random', 'torn', 'prefix', 'drop'];
    for (let n = 1; n <= dry.syncs; n++) {
      const mode = modes[n % modes.length]!;
      const where = `seed ${seed}, crash (${mode}) at fsync ${n} of ${dry.syncs} (replay: CAIRN_SEED=${seed})`;
      const run = await workload(seed, n, mode);
      assert.ok(run.image, `${where}: not reached`);
      const reader = new LogReader(run.image, '/env', envId);
      const got = [...reader.records()].map((raw) => raw.lsn);
      assert.deepEqual(got, run.lsns.slice(0, got.length), `${where}: the records read are not a prefix of those appended`);
      assert.ok(got.length >= run.acked, `${where}: ${got.length} records survive, ${run.acked} were acknowledged`);
      // A writer resumed at the end appends after it, whatever the crash left of a next file.
      const w = LogWriter.resume(run.image, '/env', opts, reader.end!);
      const more: number[] = [];
      for (let i = 0; i < 150; i++) {
        more.push(w.append({ type: 'page_image', txn: i, file: 1, pgno: i, image: Buffer.alloc(600, 9) }));
        if (i % 10 === 0) await turn();
      }
      await w.flush();
      w.close();
      const again = [...new LogReader(run.image, '/env', envId).records()].map((raw) => raw.lsn);
      assert.deepEqual(again, [...got, ...more], `${where}: after resuming`);
    }
  });
}

test('the log reads back as appended whether switches found the next file prepared or not; close removes an unused one', async () => {
  const vfs = setup();
  const w = LogWriter.create(vfs, '/env', opts);
  const lsns: number[] = [];
  for (let i = 0; i < 600; i++) {
    lsns.push(w.append({ type: 'page_image', txn: i, file: 1, pgno: i, image: Buffer.alloc(700, i & 0xff) }));
    if (i % 100 < 50 && i % 5 === 0) await turn(); // half of the time no turn: switches make the file here
  }
  await w.flush();
  assert.ok(w.preparedSwitches > 0 && w.preparedSwitches < w.stats.files, `${w.preparedSwitches} of ${w.stats.files} switches prepared`);
  await turn();
  await turn();
  assert.ok(vfs.stat(`/env/${NEXT_LOG_FILE}`) !== undefined, 'a next file is prepared while the log is open');
  w.close();
  assert.equal(vfs.stat(`/env/${NEXT_LOG_FILE}`), undefined, 'close removes the prepared next file');
  const r = new LogReader(vfs, '/env', envId);
  assert.deepEqual([...r.records()].map((raw) => raw.lsn), lsns);
  assert.equal(r.files.length, w.stats.files + 1);
});

test('a failed write or fdatasync of the next file panics the writer (I8)', async () => {
  for (const op of ['write', 'sync'] as const) {
    const vfs = setup();
    const w = LogWriter.create(vfs, '/env', opts);
    let panicked: Error | undefined;
    w.onPanic = (e) => (panicked = e);
    vfs.inject({ op, pathIncludes: NEXT_LOG_FILE, errno: 'EIO' });
    for (let i = 0; i < 80 && panicked === undefined; i++) {
      w.append({ type: 'page_image', txn: i, file: 1, pgno: i, image: Buffer.alloc(700, 1) });
      await turn();
    }
    assert.ok(panicked, `${op}: the writer panicked`);
    assert.ok(w.failed, `${op}: the writer is failed`);
    await assert.rejects(w.flush(), /recovery/i);
    w.close();
  }
});
