// The backup API: env.hotBackup (full and update) while the same process keeps committing,
// env.archive, pins (I5), and the page-by-page copy: a page caught mid-write is read again, a
// page that keeps failing its checksum is an error naming file and offset (I6).

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Environment } from '../env/environment.js';
import './register.js'; // env.hotBackup(), env.archive()
import { nodeVfs } from '../io/node.js';
import type { FileHandle, Vfs } from '../io/vfs.js';
import { CairnError, CorruptionError } from '../util/errors.js';
import { environmentSource, runHotBackup } from './hotbackup.js';
import { committed, logsIn, tmpdir } from '../testing/backupkit.js';

async function writeSome(env: Environment, from: number, count: number): Promise<void> {
  const db = await env.openDatabase('orders.db', { create: true });
  for (let n = from; n < from + count; n++) await env.transaction((t) => db.put(`n:${String(n).padStart(9, '0')}`, Buffer.alloc(200, 7), t), { durability: 'nosync' });
}

test('env.hotBackup while this process commits; then { update: true } moves the inactive logs', async () => {
  const dir = tmpdir('api');
  const home = path.join(dir, 'env');
  const bk = path.join(dir, 'bk');
  const env = await Environment.open(home, { create: true, autoRemoveLogs: false, logFileSize: 32768, checkpoint: false });
  try {
    await writeSome(env, 1, 300);
    await env.checkpoint();
    let stop = false;
    let n = 301;
    const db = await env.openDatabase('orders.db');
    const writing = (async () => {
      while (!stop) {
        const k = n++;
        await env.transaction((t) => db.put(`n:${String(k).padStart(9, '0')}`, Buffer.alloc(200, 7), t));
      }
    })();
    const before = n - 1;
    const report = await env.hotBackup(bk, {});
    stop = true;
    await writing;
    assert.deepEqual(report.dataFiles, ['orders.db']);
    assert.ok(report.logsCopied.length >= 1);
    assert.deepEqual(report.logsMoved, []);
    assert.match(report.startLsn, /^\[\d+\]\[\d+\]$/);
    assert.match(report.endLsn, /^\[\d+\]\[\d+\]$/);
    assert.equal(report.manifest, path.join(bk, '__cairn.backup.json'));
    assert.ok(report.recovery.transactions > 0);
    assert.ok(report.bytes > 0);
    let got = await committed(bk);
    assert.equal(got.prefix, got.max);
    assert.ok(got.max >= before, `${got.max} in the backup, ${before} committed before it started`);

    await writeSome(env, n, 400);
    n += 400;
    await env.checkpoint();
    const removable = env.removableLogs();
    assert.ok(removable.length > 0);
    const upd = await env.hotBackup(bk, { update: true });
    assert.equal(upd.logsMoved.length, removable.length, 'the inactive logs were moved');
    for (const f of removable) assert.ok(!fs.existsSync(path.join(home, `log.${String(f).padStart(10, '0')}`)));
    got = await committed(bk);
    assert.equal(got.max, n - 1);
    assert.equal(got.prefix, got.max);
    const m = JSON.parse(fs.readFileSync(path.join(bk, '__cairn.backup.json'), 'utf8'));
    assert.equal(m.kind, 'update');
    assert.equal(m.history.length, 2);
    assert.equal(m.requiredLsn, upd.requiredLsn);
    assert.equal(m.dataFiles.length, 1, 'the data files of the full backup are still listed');

    // Failed over to (opened read-write and written): it has its own history; -u is refused.
    const fo = await Environment.open(bk);
    await (await fo.openDatabase('orders.db')).put('written-after-failover', 'x');
    await fo.close();
    await assert.rejects(env.hotBackup(bk, { update: true }), /was opened as an environment since its last backup .*it has a history of its own now/);
  } finally {
    await env.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('env.archive lists and removes like db_archive; a pin holds log files (I5)', async () => {
  const dir = tmpdir('arch');
  const home = path.join(dir, 'env');
  const env = await Environment.open(home, { create: true, autoRemoveLogs: false, logFileSize: 32768, checkpoint: false });
  try {
    await writeSome(env, 1, 400);
    await env.checkpoint();
    const all = logsIn(home);
    assert.deepEqual(await env.archive({ logs: true }), all);
    assert.deepEqual(await env.archive({ data: true, absolute: true }), [path.join(home, 'orders.db')]);
    const removable = await env.archive({});
    assert.ok(removable.length > 0);
    await assert.rejects(env.archive({ logs: true, data: true }), (e: CairnError) => e.code === 'INVALID_ARGUMENT');
    await assert.rejects(env.archive({ remove: true, logs: true }), /remove \(-d\) removes the inactive log files only/);

    const pin = await environmentSource(env).pin();
    assert.deepEqual(pin.removable, removable.map((n) => Number(n.slice(4))));
    assert.deepEqual(env.removableLogs(), [], 'nothing removable while pinned');
    assert.deepEqual(await env.archive({ remove: true }), []);
    assert.deepEqual(logsIn(home), all);
    await pin.release();
    assert.deepEqual(await env.archive({ remove: true }), removable);
    assert.deepEqual(logsIn(home), all.filter((n) => !removable.includes(n)));
  } finally {
    await env.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** A Vfs whose reads of `file` at page `pgno` return a damaged page `bad` times. */
function tearing(file: string, pageSize: number, pgno: number, bad: number): Vfs & { damaged: number } {
  const v = Object.create(nodeVfs) as Vfs & { damaged: number };
  v.damaged = 0;
  v.open = (p: string, o?: Parameters<Vfs['open']>[1]): FileHandle => {
    const h = nodeVfs.open(p, o);
    if (path.resolve(p) !== file) return h;
    return {
      path: h.path,
      read(buf: Uint8Array, position: number): number {
        const n = h.read(buf, position);
        const at = pgno * pageSize - position;
        if (at >= 0 && at < n && v.damaged < bad) {
          v.damaged++;
          buf[at + 100] = (buf[at + 100] ?? 0) ^ 0xff; // as if read in the middle of a write
        }
        return n;
      },
      write: (b, p2) => h.write(b, p2),
      size: () => h.size(),
      truncate: (l) => h.truncate(l),
      sync: () => h.sync(),
      syncAsync: () => h.syncAsync(),
      close: () => h.close(),
    };
  };
  return v;
}

test('a page caught mid-write is read again; a page that keeps failing is an error naming file and offset', async () => {
  const dir = tmpdir('torn');
  const home = path.join(dir, 'env');
  const env = await Environment.open(home, { create: true, autoRemoveLogs: false, logFileSize: 32768, checkpoint: false });
  try {
    await writeSome(env, 1, 200);
    await env.checkpoint();
    const file = path.join(home, 'orders.db');
    const vfs = tearing(file, 4096, 2, 3);
    const r = await runHotBackup(environmentSource(env), path.join(dir, 'bk1'), { vfs });
    assert.equal(vfs.damaged, 3);
    const m = JSON.parse(fs.readFileSync(path.join(dir, 'bk1', '__cairn.backup.json'), 'utf8'));
    assert.equal(m.dataFiles[0].reread, 3, 'read again until it checked');
    assert.equal(r.recovery!.transactions >= 0, true);
    assert.equal((await committed(path.join(dir, 'bk1'))).count, 200);

    const broken = tearing(file, 4096, 2, Infinity);
    await assert.rejects(runHotBackup(environmentSource(env), path.join(dir, 'bk2'), { vfs: broken }), (e: Error) => {
      assert.ok(e instanceof CorruptionError, String(e));
      assert.equal(e.file, file);
      assert.equal(e.offset, 2 * 4096);
      assert.match(e.message, /page 2: page checksum mismatch, on 40 reads in a row \(not a page caught mid-write\): the source data file is damaged/);
      return true;
    });
    // The failed backup left its lock behind for nobody: a new run works.
    await runHotBackup(environmentSource(env), path.join(dir, 'bk2'), {});
    assert.equal((await committed(path.join(dir, 'bk2'))).count, 200);
  } finally {
    await env.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
