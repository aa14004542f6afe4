// SimVfs: the crash model (volatile vs durable bytes and directory entries, torn sectors,
// garbage in extended regions), fault injection (transient, persistent, short writes, fsyncgate)
// and the sync hook. Randomised cases run seeds from testSeeds() and name the seed in every
// assertion message; replay one with CAIRN_SEED=<n>.

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { SimVfs } from './sim.js';
import { IoError } from '../util/errors.js';
import { testSeeds } from '../util/random.js';

const A = (n: number, byte = 0xaa): Buffer => Buffer.alloc(n, byte);

function writeSynced(vfs: SimVfs, path: string, data: Buffer): void {
  const h = vfs.open(path, { create: true });
  h.write(data, 0);
  h.sync();
  h.close();
}

function errno(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof IoError, `expected IoError, got ${String(err)}`);
    return err.errno;
  }
  assert.fail('expected an IoError');
}

test('open: ENOENT without create, ENOENT in a missing directory, EEXIST when exclusive', () => {
  const vfs = new SimVfs();
  assert.equal(errno(() => vfs.open('/nope')), 'ENOENT');
  assert.equal(errno(() => vfs.open('/missing/f', { create: true })), 'ENOENT');
  vfs.open('/f', { create: true }).close();
  assert.equal(errno(() => vfs.open('/f', { create: true, exclusive: true })), 'EEXIST');
  vfs.mkdir('/d');
  assert.equal(errno(() => vfs.open('/d')), 'EISDIR');
  assert.equal(errno(() => vfs.open('/f/x', { create: true })), 'ENOTDIR');
});

test('read, write, size, truncate, readdir sorted, stat, mkdir recursive, relative paths', () => {
  const vfs = new SimVfs();
  vfs.mkdir('/a/b/c', { recursive: true });
  assert.equal(errno(() => vfs.mkdir('/x/y')), 'ENOENT');
  assert.equal(errno(() => vfs.mkdir('/a')), 'EEXIST');
  const h = vfs.open('a/b/f', { create: true });
  h.write(Buffer.from('hello'), 10);
  assert.equal(h.size(), 15);
  const buf = Buffer.alloc(20, 1);
  assert.equal(h.read(buf, 0), 15);
  assert.deepEqual(buf.subarray(0, 15), Buffer.concat([A(10, 0), Buffer.from('hello')]));
  assert.equal(h.read(buf, 15), 0);
  h.truncate(12);
  assert.equal(vfs.stat('/a/b/f')?.size, 12);
  h.close();
  assert.equal(errno(() => h.size()), 'EBADF');
  vfs.writeFile('/a/b/e', Buffer.from('z'));
  assert.deepEqual(vfs.readdir('/a/b'), ['c', 'e', 'f']);
  assert.deepEqual(vfs.readdir('/'), ['a']);
  assert.equal(vfs.stat('/a/b')?.isDirectory, true);
  assert.equal(vfs.stat('/a/b')?.isFile, false);
  assert.equal(vfs.stat('/a/b/e')?.isFile, true);
  assert.equal(vfs.stat('/a/b/e')?.isDirectory, false);
  assert.equal(vfs.stat('/a/zz'), undefined);
  assert.deepEqual(vfs.readFile('/a/b/e'), Buffer.from('z'));
  const ro = vfs.open('/a/b/e', { readOnly: true });
  assert.equal(errno(() => ro.write(Buffer.from('x'), 0)), 'EBADF');
  ro.close();
});

test('unlink, rmdir, rename of files and directories', () => {
  const vfs = new SimVfs();
  vfs.mkdir('/d/sub', { recursive: true });
  vfs.writeFile('/d/sub/f', Buffer.from('1'));
  assert.equal(errno(() => vfs.rmdir('/d')), 'ENOTEMPTY');
  assert.equal(errno(() => vfs.unlink('/d')), 'EISDIR');
  vfs.rename('/d', '/e');
  assert.deepEqual([...vfs.snapshotFiles().keys()], ['/e/sub/f']);
  assert.equal(errno(() => vfs.rename('/e', '/e/sub/x')), 'EINVAL');
  vfs.writeFile('/g', Buffer.from('2'));
  vfs.rename('/g', '/e/sub/f'); // replaces
  assert.deepEqual(vfs.readFile('/e/sub/f'), Buffer.from('2'));
  vfs.unlink('/e/sub/f');
  vfs.rmdir('/e/sub');
  assert.deepEqual(vfs.readdir('/e'), []);
  assert.equal(errno(() => vfs.unlink('/e/sub/f')), 'ENOENT');
});

test('writes are volatile until FileHandle.sync; entries until syncDir of the parent', () => {
  const vfs = new SimVfs();
  vfs.mkdir('/env');
  vfs.syncDir('/');
  const h = vfs.open('/env/log', { create: true });
  h.write(A(100), 0);
  assert.equal(vfs.durableFiles().has('/env/log'), false, 'entry not yet durable');
  h.sync();
  assert.equal(vfs.durableFiles().has('/env/log'), false, 'file sync does not sync the entry');
  vfs.syncDir('/env');
  assert.deepEqual(vfs.durableFiles().get('/env/log'), A(100));
  h.write(A(50, 0xbb), 100);
  assert.deepEqual(vfs.durableFiles().get('/env/log'), A(100), 'unsynced append not durable');
  assert.equal(vfs.snapshotFiles().get('/env/log')?.length, 150);
  assert.deepEqual(vfs.crash({ seed: 1, mode: 'drop' }).snapshotFiles(), vfs.durableFiles());
  assert.deepEqual(vfs.crash({ seed: 1, mode: 'keep' }).snapshotFiles(), vfs.snapshotFiles());
});

test('an unsynced create vanishes; an unsynced unlink or rename is undone', () => {
  const vfs = new SimVfs();
  writeSynced(vfs, '/old', A(10, 1));
  writeSynced(vfs, '/gone', A(10, 2));
  writeSynced(vfs, '/tmp', A(10, 4));
  vfs.syncDir('/');
  writeSynced(vfs, '/new', A(10, 3)); // data synced, entry not
  vfs.unlink('/gone');
  vfs.rename('/tmp', '/old');
  const img = vfs.crash({ seed: 7, mode: 'drop' }).snapshotFiles();
  assert.deepEqual([...img.keys()], ['/gone', '/old', '/tmp']);
  assert.deepEqual(img.get('/old'), A(10, 1));
  assert.deepEqual(img.get('/gone'), A(10, 2));
  vfs.syncDir('/');
  const after = vfs.crash({ seed: 7, mode: 'drop' }).snapshotFiles();
  assert.deepEqual([...after.keys()], ['/new', '/old']);
  assert.deepEqual(after.get('/old'), A(10, 4));
  assert.deepEqual(after.get('/new'), A(10, 3));
});

test('unsynced directory operations are each kept or undone, seeded; rename stays atomic', () => {
  let kept = 0;
  let undone = 0;
  for (const seed of testSeeds(40)) {
    const vfs = new SimVfs();
    writeSynced(vfs, '/final', A(600, 1));
    writeSynced(vfs, '/tmp', A(600, 2));
    vfs.syncDir('/');
    vfs.rename('/tmp', '/final');
    const img = vfs.crash({ seed, mode: 'random' }).snapshotFiles();
    const final = img.get('/final');
    assert.ok(final !== undefined, `seed ${seed}: rename must never lose /final`);
    if (final.equals(A(600, 2))) {
      kept++;
      assert.equal(img.has('/tmp'), false, `seed ${seed}: rename kept means /tmp is gone`);
    } else {
      undone++;
      assert.deepEqual(final, A(600, 1), `seed ${seed}`);
      assert.deepEqual(img.get('/tmp'), A(600, 2), `seed ${seed}`);
    }
  }
  if (testSeeds(2).length > 1) assert.ok(kept > 0 && undone > 0, `kept ${kept} undone ${undone}`);
});

test('torn mode keeps or drops whole 512-byte sectors of each unsynced write', () => {
  const shapes = new Set<string>();
  for (const seed of testSeeds(30)) {
    const vfs = new SimVfs();
    writeSynced(vfs, '/f', A(4096, 0));
    vfs.syncDir('/');
    const h = vfs.open('/f');
    h.write(A(4096 - 100, 0xaa), 100); // not sector aligned at the start
    const img = vfs.crash({ seed, mode: 'torn' }).snapshotFiles().get('/f');
    assert.ok(img !== undefined && img.length === 4096, `seed ${seed}: size stays 4096`);
    let shape = '';
    for (let s = 0; s < 8; s++) {
      const from = s === 0 ? 100 : s * 512;
      const sector = img.subarray(from, (s + 1) * 512);
      const whole = sector.every((b) => b === 0xaa) || sector.every((b) => b === 0);
      assert.ok(whole, `seed ${seed}: sector ${s} is torn inside`);
      shape += sector[0] === 0xaa ? '1' : '0';
    }
    assert.ok(img.subarray(0, 100).every((b) => b === 0), `seed ${seed}: bytes before the write`);
    shapes.add(shape);
  }
  if (testSeeds(2).length > 1) assert.ok(shapes.size > 5, `only ${shapes.size} tear shapes`);
});

test('random mode: an unsynced append is kept, dropped, torn, or leaves garbage or zeros', () => {
  const seen = new Set<string>();
  const data = Buffer.from(Array.from({ length: 2048 }, (_, i) => (i % 251) + 1));
  for (const seed of testSeeds(200)) {
    const vfs = new SimVfs();
    writeSynced(vfs, '/log', Buffer.alloc(0));
    vfs.syncDir('/');
    vfs.open('/log').write(data, 0);
    const img = vfs.crash({ seed, mode: 'random' }).snapshotFiles().get('/log');
    assert.ok(img !== undefined, `seed ${seed}: the synced entry survives`);
    if (img.length === 0) seen.add('drop');
    else if (img.equals(data)) seen.add('keep');
    else if (img.length === 2048 && img.every((b) => b === 0)) seen.add('zeros');
    else {
      let ok = 0;
      for (let i = 0; i < img.length; i++) if (img[i] === data[i] || img[i] === 0) ok++;
      seen.add(ok === img.length ? 'torn' : 'garbage');
    }
  }
  if (testSeeds(2).length > 1) {
    assert.deepEqual([...seen].sort(), ['drop', 'garbage', 'keep', 'torn', 'zeros']);
  }
});

test('prefix mode keeps an in-order prefix of the pending operations', () => {
  for (const seed of testSeeds(30)) {
    const vfs = new SimVfs();
    writeSynced(vfs, '/log', Buffer.alloc(0));
    vfs.syncDir('/');
    const h = vfs.open('/log');
    for (let i = 0; i < 8; i++) h.write(A(512, i + 1), i * 512);
    const img = vfs.crash({ seed, mode: 'prefix' }).snapshotFiles().get('/log')!;
    assert.equal(img.length % 512, 0, `seed ${seed}`);
    for (let i = 0; i < img.length / 512; i++) {
      assert.deepEqual(img.subarray(i * 512, (i + 1) * 512), A(512, i + 1), `seed ${seed}`);
    }
  }
});

test('the same seed gives the same crash image; crash images are fully durable', () => {
  const build = (): SimVfs => {
    const vfs = new SimVfs();
    vfs.mkdir('/env');
    writeSynced(vfs, '/env/a', A(3000, 1));
    vfs.syncDir('/env');
    const h = vfs.open('/env/a');
    for (let i = 0; i < 10; i++) h.write(A(700, 10 + i), i * 333);
    vfs.writeFile('/env/b', A(900, 5));
    vfs.rename('/env/b', '/env/c');
    return vfs;
  };
  const images = new Set<string>();
  for (const seed of testSeeds(10)) {
    const one = build().crash({ seed, mode: 'random' });
    const two = build().crash({ seed, mode: 'random' });
    assert.deepEqual(one.snapshotFiles(), two.snapshotFiles(), `seed ${seed}: not deterministic`);
    assert.deepEqual(one.durableFiles(), one.snapshotFiles(), `seed ${seed}: image not durable`);
    images.add(JSON.stringify([...one.snapshotFiles()].map(([k, v]) => [k, v.toString('hex')])));
  }
  if (testSeeds(2).length > 1) assert.ok(images.size > 1, 'different seeds, different images');
});

test('inject write fault: transient hits only the nth matching call', () => {
  const vfs = new SimVfs();
  const h = vfs.open('/f', { create: true });
  vfs.inject({ op: 'write', nth: 2, errno: 'ENOSPC' });
  h.write(A(10), 0);
  assert.equal(errno(() => h.write(A(10), 10)), 'ENOSPC');
  h.write(A(10), 10);
  assert.equal(h.size(), 20);
  assert.equal(vfs.opCount('write'), 3);
});

test('inject write fault: persistent keeps failing until clearFaults; pathIncludes filters', () => {
  const vfs = new SimVfs();
  const log = vfs.open('/log.1', { create: true });
  const db = vfs.open('/data.db', { create: true });
  vfs.inject({ op: 'write', nth: 2, pathIncludes: 'log.', errno: 'EIO', persistent: true });
  log.write(A(1), 0);
  db.write(A(1), 0);
  assert.equal(errno(() => log.write(A(1), 1)), 'EIO');
  db.write(A(1), 1);
  assert.equal(errno(() => log.write(A(1), 1)), 'EIO');
  vfs.clearFaults();
  log.write(A(1), 1);
  assert.equal(log.size(), 2);
});

test('inject short write: half the bytes land, then the error', () => {
  const vfs = new SimVfs();
  const h = vfs.open('/f', { create: true });
  vfs.inject({ op: 'write', errno: 'ENOSPC', shortWrite: true });
  assert.equal(errno(() => h.write(A(1000), 0)), 'ENOSPC');
  assert.equal(h.size(), 500);
});

test('inject open, rename, unlink and syncDir faults', () => {
  const vfs = new SimVfs();
  vfs.writeFile('/a', A(1));
  vfs.inject({ op: 'open', errno: 'EROFS' });
  assert.equal(errno(() => vfs.open('/a')), 'EROFS');
  vfs.inject({ op: 'rename', errno: 'EIO', pathIncludes: '/b' });
  assert.equal(errno(() => vfs.rename('/a', '/b')), 'EIO');
  vfs.inject({ op: 'unlink', errno: 'EIO' });
  assert.equal(errno(() => vfs.unlink('/a')), 'EIO');
  assert.ok(vfs.stat('/a'), 'a failed unlink removes nothing');
  vfs.inject({ op: 'syncDir', errno: 'EIO' });
  assert.equal(errno(() => vfs.syncDir('/')), 'EIO');
  assert.equal(vfs.durableFiles().has('/a'), false, 'a failed syncDir makes nothing durable');
  vfs.syncDir('/');
  assert.equal(vfs.durableFiles().has('/a'), true);
});

test('a failed sync leaves durable state unchanged, and a later sync cannot revive it (I8)', () => {
  const vfs = new SimVfs();
  writeSynced(vfs, '/log', A(512, 1));
  vfs.syncDir('/');
  const h = vfs.open('/log');
  h.write(A(512, 2), 512);
  vfs.inject({ op: 'sync', errno: 'EIO' });
  assert.equal(errno(() => h.sync()), 'EIO');
  assert.deepEqual(vfs.durableFiles().get('/log'), A(512, 1));
  assert.equal(h.size(), 1024, 'the page cache still has the data');
  h.sync(); // the "retry" succeeds, as on Linux, but the data it claims is gone
  assert.deepEqual(vfs.durableFiles().get('/log'), A(512, 1), 'fsyncgate: lost for good');
  h.write(A(512, 3), 1024);
  h.sync();
  const durable = vfs.durableFiles().get('/log')!;
  assert.deepEqual(durable.subarray(0, 512), A(512, 1));
  assert.deepEqual(durable.subarray(512, 1024), A(512, 0), 'the lost write left a hole');
  assert.deepEqual(durable.subarray(1024), A(512, 3));
});

test('onSync runs before each file and directory sync takes effect, numbered from 1', () => {
  const vfs = new SimVfs();
  const calls: Array<[number, string, boolean]> = [];
  vfs.onSync = (n, path) => calls.push([n, path, vfs.durableFiles().has('/f')]);
  const h = vfs.open('/f', { create: true });
  h.write(A(1), 0);
  h.sync();
  vfs.syncDir('/');
  assert.deepEqual(calls, [
    [1, '/f', false],
    [2, '/', false],
  ]);
  assert.equal(vfs.syncCount, 2);
  vfs.onSync = (n) => {
    if (n === 3) throw new Error('stop at fsync 3');
  };
  h.write(A(1, 9), 1);
  assert.throws(() => h.sync(), /stop at fsync 3/);
  assert.deepEqual(vfs.durableFiles().get('/f'), A(1), 'a sync stopped by the hook does nothing');
});

test('crash() inside onSync captures the state just before that fsync', () => {
  const vfs = new SimVfs();
  let image: Map<string, Buffer> | undefined;
  vfs.onSync = (n) => {
    if (n === 2) image = vfs.crash({ seed: 3, mode: 'drop' }).snapshotFiles();
  };
  const h = vfs.open('/f', { create: true });
  vfs.syncDir('/');
  h.write(A(10), 0);
  h.sync();
  assert.deepEqual(image?.get('/f'), Buffer.alloc(0));
  assert.deepEqual(vfs.durableFiles().get('/f'), A(10));
});

test('syncAsync resolves on a later tick and covers the writes issued before it', async () => {
  const vfs = new SimVfs();
  const h = vfs.open('/f', { create: true });
  vfs.syncDir('/');
  h.write(A(10, 1), 0);
  let done = false;
  const p = h.syncAsync().then(() => {
    done = true;
  });
  h.write(A(10, 2), 10);
  await Promise.resolve();
  assert.equal(done, false, 'not resolved synchronously');
  assert.equal(vfs.durableFiles().get('/f')!.length, 0);
  await p;
  assert.deepEqual(vfs.durableFiles().get('/f'), A(10, 1));
  vfs.inject({ op: 'sync', errno: 'EIO' });
  await assert.rejects(
    h.syncAsync(),
    (err: unknown) => err instanceof IoError && err.errno === 'EIO',
  );
  assert.deepEqual(vfs.durableFiles().get('/f'), A(10, 1));
});

test('fromFiles builds a fully durable file system; snapshotFiles copies', () => {
  const vfs = SimVfs.fromFiles(new Map([['/env/a/x', Buffer.from('x')], ['/env/y', A(3)]]));
  assert.deepEqual(vfs.readdir('/env'), ['a', 'y']);
  assert.deepEqual(vfs.durableFiles(), vfs.snapshotFiles());
  assert.deepEqual(vfs.pendingOps(), []);
  vfs.snapshotFiles().get('/env/y')!.fill(7);
  assert.deepEqual(vfs.readFile('/env/y'), A(3));
  vfs.open('/env/y').write(A(1, 1), 0);
  assert.equal(vfs.pendingOps().length, 1);
  assert.match(vfs.pendingOps()[0]!, /write \/env\/y @0\+1/);
});
