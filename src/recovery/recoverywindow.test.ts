// Recovery with the log reader's window sliding inside transactions (redo.ts keepPending:
// the records of the unfinished transaction that lie in a window buffer about to be filled
// again are copied first) against recovery with the default window, on seeded random
// workloads with transactions of up to tens of KiB left as a kill -9 leaves them: the same
// result and the same data files, byte for byte. Replay: CAIRN_SEED=<seed>.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimVfs } from '../io/sim.js';
import { Environment } from '../env/environment.js';
import { recover, type RecoveryContext } from './redo.js';
import { flatContext } from '../testing/recoverykit.js';
import { randInt, rng, testSeeds } from '../util/random.js';

const HOME = '/env';

function ctxFor(vfs: SimVfs): RecoveryContext {
  return flatContext(vfs, HOME);
}

/** Recovers `vfs` from its first log file; returns the result and every data file's bytes. */
function recovered(vfs: SimVfs, pieces?: { pieceBytes: number; windowBytes: number }): { result: unknown; files: Map<string, string> } {
  const ctx = ctxFor(vfs);
  const result = recover(ctx, { checkAllPages: true, ...(pieces ? { pieces } : {}) });
  for (const f of ctx.pager.files.values()) f.handle?.close();
  const files = new Map<string, string>();
  for (const [name, p] of ctx.listDataFiles()) files.set(name, vfs.readFile(p).toString('hex'));
  return { result, files };
}

for (const seed of testSeeds(3)) {
  test(`recovery with windows sliding inside transactions = with the default window (seed ${seed})`, async () => {
    const r = rng(seed);
    const vfs = new SimVfs();
    vfs.mkdir(HOME, { recursive: true });
    vfs.syncDir('/');
    const env = await Environment.open(HOME, { create: true, vfs, logFileSize: 128 * 1024, checkpoint: false, pageSize: 1024 });
    const db = await env.openDatabase('a.db', { create: true });
    for (let t = 0; t < 12; t++) {
      const n = randInt(r, 4) === 0 ? 200 + randInt(r, 300) : 1 + randInt(r, 20);
      await env.transaction((txn) => {
        for (let i = 0; i < n; i++) db.put(`k${randInt(r, 5000)}`, `${seed}:${t}:${i}`.padEnd(60 + randInt(r, 60), '.'), txn);
      });
      if (t === 5) await env.checkpoint();
    }
    // An unfinished transaction's records in the log: written by a commit the crash cuts short.
    await env.flushLog();
    const images = [vfs.crash({ seed, mode: 'keep' }), vfs.crash({ seed, mode: 'keep' })] as const;
    await env.close();
    const whole = recovered(images[0]);
    assert.ok((whole.result as { pagesRedone: number }).pagesRedone > 0, `seed ${seed}: recovery redid pages`);
    const pieceBytes = 50 + randInt(r, 500);
    const slid = recovered(images[1], { pieceBytes, windowBytes: pieceBytes + randInt(r, 2000) });
    assert.deepEqual(slid.result, whole.result, `seed ${seed}: the result (CAIRN_SEED=${seed} to replay)`);
    assert.deepEqual(slid.files, whole.files, `seed ${seed}: the data files`);
  });
}
