// I4: a plain byte copy of the data files taken while writers run (pages torn mid-write
// included), started after a checkpoint completed, plus every log file to the end of the
// copy, recovers under catastrophic recovery to exactly the transactions in those logs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimVfs } from '../io/sim.js';
import { Environment } from './environment.js';
import { rng, randInt, testSeeds } from '../util/random.js';
import { lsnFile } from '../util/lsn.js';

const HOME = '/env';
const k = (i: number) => `key${String(i).padStart(6, '0')}`;

for (const seed of testSeeds(8)) {
  test(`fuzzy copy with torn pages recovers to the logged state (I4), seed ${seed}`, async () => {
    const r = rng(seed);
    const vfs = new SimVfs();
    vfs.mkdir(HOME, { recursive: true });
    const env = await Environment.open(HOME, { create: true, vfs, logFileSize: 64 * 1024, checkpoint: false, pageSize: 1024 });
    const db = await env.openDatabase('a.db', { create: true });
    const model = new Map<string, string>();
    let round = 0;
    const burst = async (n: number) => {
      for (let i = 0; i < n; i++, round++) {
        await env.transaction((t) => {
          for (let j = 0; j < 1 + randInt(r, 6); j++) {
            const key = k(randInt(r, 400));
            if (randInt(r, 5) === 0) {
              db.del(key, t);
              model.delete(key);
            } else {
              const v = `${seed}/${round}/${j}`.repeat(1 + randInt(r, 12));
              db.put(key, v, t);
              model.set(key, v);
            }
          }
        });
      }
    };
    // Enough history that older log files exist which the copy will not have.
    while (lsnFile(env.logEnd) < 3) await burst(20);
    await env.checkpoint(); // C1 completes: the copy starts after it
    const firstLog = lsnFile(env.redoPoint);
    await burst(10 + randInt(r, 20));
    const a = vfs.snapshotFiles().get('/env/a.db')!;
    await burst(10 + randInt(r, 20));
    await env.checkpoint(); // pages rewritten while "the copy" runs
    const b = vfs.snapshotFiles().get('/env/a.db')!;
    await burst(10 + randInt(r, 20));
    // The copy: each page from before or after the second checkpoint, or torn between them.
    const ps = 1024;
    const copy = Buffer.alloc(Math.max(a.length, b.length));
    const len = randInt(r, 2) === 0 ? a.length : copy.length; // the copy may stop at the older size
    for (let off = 0; off < len; off += ps) {
      const pa = a.subarray(off, off + ps);
      const pb = b.subarray(off, off + ps);
      const pick = randInt(r, 3);
      if (pick === 0) pa.copy(copy, off);
      else if (pick === 1) pb.copy(copy, off);
      else {
        const cut = 512 * randInt(r, 2) + 512 * randInt(r, 1);
        pa.copy(copy, off, 0, Math.min(cut, pa.length));
        pb.copy(copy, off + cut, cut, Math.max(cut, pb.length));
      }
    }
    // Then every log file, as they are now.
    const files = new Map<string, Uint8Array>();
    for (const [p, data] of vfs.snapshotFiles()) {
      const m = /log\.(\d+)$/.exec(p);
      if (m && Number(m[1]) >= firstLog) files.set(p.replace('/env/', '/copy/'), data);
    }
    assert.ok(firstLog > 1, 'the copy must start after the first log file for this test to mean anything');
    files.set('/copy/a.db', copy.subarray(0, len));
    const target = SimVfs.fromFiles(files);
    const report = await Environment.recover('/copy', { vfs: target, catastrophic: true });
    assert.ok(report.transactions > 0, `seed ${seed}`);
    const env2 = await Environment.open('/copy', { vfs: target });
    const got = new Map([...(await env2.openDatabase('a.db')).range()].map(([x, y]) => [x.toString(), y.toString()]));
    assert.deepEqual(got, model, `seed ${seed}: recovered copy differs from the committed state`);
    await env2.close();
    await env.close();
  });
}

test('a copy whose logs were taken before its data files is refused (I7)', async () => {
  const vfs = new SimVfs();
  vfs.mkdir(HOME, { recursive: true });
  const env = await Environment.open(HOME, { create: true, vfs, logFileSize: 64 * 1024, checkpoint: false });
  const db = await env.openDatabase('a.db', { create: true });
  for (let i = 0; i < 30; i++) await db.put(k(i), 'v'.repeat(100));
  await env.checkpoint();
  const logs = new Map<string, Uint8Array>();
  for (const [p, data] of vfs.snapshotFiles()) if (/log\.\d+$/.test(p)) logs.set(p.replace('/env/', '/copy/'), data);
  for (let i = 30; i < 300; i++) await db.put(k(i), 'w'.repeat(100));
  await env.checkpoint();
  logs.set('/copy/a.db', vfs.snapshotFiles().get('/env/a.db')!);
  await env.close();
  const target = SimVfs.fromFiles(logs);
  await assert.rejects(Environment.recover('/copy', { vfs: target, catastrophic: true }), /past the end of the log/);
  await assert.rejects(Environment.open('/copy', { vfs: target }), /did not finish/);
});
