// I10: recovery interrupted at any fsync and run again gives the same result as one
// uninterrupted recovery (normal and catastrophic). Also recovery to an LSN.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimVfs } from '../io/sim.js';
import { Environment } from './environment.js';
import { formatLsn } from '../util/lsn.js';

const HOME = '/env';

async function crashedEnv(): Promise<SimVfs> {
  const vfs = new SimVfs();
  vfs.mkdir(HOME, { recursive: true });
  vfs.syncDir('/');
  const env = await Environment.open(HOME, { create: true, vfs, logFileSize: 32 * 1024, pageSize: 1024, checkpoint: false });
  const db = await env.openDatabase('a.db', { create: true });
  for (let i = 0; i < 120; i++) {
    await env.transaction((t) => {
      for (let j = 0; j < 3; j++) db.put(`k${(i * 7 + j * 13) % 150}`, `v${i}.${j}`.repeat(1 + (i % 20)), t);
    });
    if (i === 40) await env.checkpoint();
  }
  const image = vfs.crash({ seed: 11, mode: 'drop' });
  await env.close();
  return image;
}

async function contents(vfs: SimVfs): Promise<string[]> {
  const env = await Environment.open(HOME, { vfs, checkpoint: false });
  const db = await env.openDatabase('a.db');
  const out = [...db.range()].map(([k, v]) => `${k}=${v}`);
  assert.deepEqual(db.verify(), []);
  await env.close();
  return out;
}

for (const catastrophic of [false, true]) {
  test(`${catastrophic ? 'catastrophic' : 'normal'} recovery interrupted at every fsync, then rerun, ends the same (I10)`, async () => {
    const base = await crashedEnv();
    const reference = await contents(SimVfs.fromFiles(base.snapshotFiles()));
    // Count the fsyncs of one uninterrupted recovery.
    const dry = SimVfs.fromFiles(base.snapshotFiles());
    const before = dry.syncCount;
    await Environment.recover(HOME, { vfs: dry, catastrophic });
    const total = dry.syncCount - before;
    assert.ok(total > 3, `recovery made only ${total} fsyncs`);
    for (let n = 1; n <= total; n++) {
      const vfs = SimVfs.fromFiles(base.snapshotFiles());
      const start = vfs.syncCount;
      let image: SimVfs | undefined;
      vfs.onSync = (m) => {
        if (m - start === n) {
          image = vfs.crash({ seed: n, mode: 'random' });
          throw new Error(`crash during recovery at fsync ${n}`);
        }
      };
      await assert.rejects(Environment.recover(HOME, { vfs, catastrophic }));
      assert.ok(image, `fsync ${n} not reached`);
      // Once the interrupted recovery's marker is durable, a normal open reruns normal recovery
      // itself, or refuses until catastrophic recovery is run again.
      let got: string[];
      try {
        got = await contents(image);
      } catch (e) {
        assert.ok(catastrophic && /did not finish|db_recover -c/.test(String(e)), `interrupted at fsync ${n}: ${String(e)}`);
        await Environment.recover(HOME, { vfs: image, catastrophic: true });
        got = await contents(image);
      }
      assert.deepEqual(got, reference, `interrupted at fsync ${n} of ${total}`);
    }
  });
}

test('recovery to an LSN applies exactly the transactions committed before it', async () => {
  const vfs = new SimVfs();
  vfs.mkdir(HOME, { recursive: true });
  const env = await Environment.open(HOME, { create: true, vfs, checkpoint: false });
  await env.openDatabase('a.db', { create: true });
  await env.close();
  const backup = vfs.snapshotFiles().get('/env/a.db')!;
  const env2 = await Environment.open(HOME, { vfs, checkpoint: false });
  const db = await env2.openDatabase('a.db');
  for (let i = 0; i < 5; i++) await db.put(`k${i}`, 'v');
  const cut = env2.logEnd;
  for (let i = 5; i < 10; i++) await db.put(`k${i}`, 'v');
  await env2.close();
  vfs.writeFile('/env/a.db', backup);
  await assert.rejects(Environment.recover(HOME, { vfs, untilLsn: 'nonsense' }), /untilLsn must look like/);
  const r = await Environment.recover(HOME, { vfs, catastrophic: true, untilLsn: formatLsn(cut) });
  assert.ok(r.keptLogDir);
  const env3 = await Environment.open(HOME, { vfs });
  const db3 = await env3.openDatabase('a.db');
  assert.deepEqual([...db3.keys()].map(String), ['k0', 'k1', 'k2', 'k3', 'k4']);
  await env3.close();
});
