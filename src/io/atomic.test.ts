// writeFileAtomic over SimVfs: a crash at each step (before the temp file's fsync, before the
// directory fsync, a failed open/write/sync/rename/syncDir, after it returned) leaves the old
// content or the new one under the name, never a torn or missing file; once it returned, a crash
// that keeps only durable state holds the new content. Seeded: replay with CAIRN_SEED=<n>.

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { writeFileAtomic } from './atomic.js';
import { type CrashMode, type FaultOp, SimVfs } from './sim.js';
import { testSeeds } from '../util/random.js';

const FILE = '/home/f';
const OLD = Buffer.alloc(3000, 0x11);
const NEW = Buffer.alloc(5000, 0x22);
const MODES: CrashMode[] = ['drop', 'keep', 'torn', 'random', 'prefix'];

function fresh(): SimVfs {
  const vfs = new SimVfs();
  vfs.mkdir('/home');
  vfs.syncDir('/');
  writeFileAtomic(vfs, FILE, OLD);
  return vfs;
}

function checkImages(vfs: SimVfs, where: string, seed: number, mustBeNew: boolean): void {
  for (const mode of MODES) {
    const after = vfs.crash({ seed, mode });
    const msg = `${where}, crash mode ${mode}, seed ${seed} (replay with CAIRN_SEED=${seed})`;
    assert.ok(after.stat(FILE) !== undefined, `${msg}: ${FILE} is missing`);
    const got = after.readFile(FILE);
    const isOld = got.equals(OLD);
    const isNew = got.equals(NEW);
    assert.ok(isOld || isNew, `${msg}: ${FILE} holds ${got.length} bytes, neither the old content nor the new`);
    if (mustBeNew && mode !== 'keep') assert.ok(isNew, `${msg}: the old content survived a completed replace`);
  }
}

test('writeFileAtomic: a crash before each fsync leaves the old or the new content', () => {
  for (const seed of testSeeds(8)) {
    for (const at of [1, 2]) {
      const vfs = fresh();
      const base = vfs.syncCount;
      vfs.onSync = (n) => {
        if (n === base + at) throw new Error('stop'); // the workload ends here; crash images below
      };
      assert.throws(() => writeFileAtomic(vfs, FILE, NEW), /stop/, `sync ${at} of the replace was never reached`);
      vfs.onSync = undefined;
      checkImages(vfs, `crash before sync ${at} of the replace`, seed, false);
    }
  }
});

test('writeFileAtomic: a failed step throws and leaves the old or the new content', () => {
  const steps: Array<{ op: FaultOp; shortWrite?: boolean }> = [{ op: 'open' }, { op: 'write' }, { op: 'write', shortWrite: true }, { op: 'sync' }, { op: 'rename' }, { op: 'syncDir' }];
  for (const seed of testSeeds(8)) {
    for (const s of steps) {
      const vfs = fresh();
      vfs.inject({ op: s.op, errno: 'EIO', shortWrite: s.shortWrite });
      assert.throws(() => writeFileAtomic(vfs, FILE, NEW), { name: 'IoError' }, `fault at ${s.op}`);
      vfs.clearFaults();
      checkImages(vfs, `failed ${s.op}${s.shortWrite ? ' (short write)' : ''}`, seed, false);
    }
  }
});

test('writeFileAtomic: once it returned, the new content is durable', () => {
  for (const seed of testSeeds(8)) {
    const vfs = fresh();
    writeFileAtomic(vfs, FILE, NEW);
    assert.ok(vfs.readFile(FILE).equals(NEW));
    checkImages(vfs, 'crash after the replace returned', seed, true);
  }
});
